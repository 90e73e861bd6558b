#pragma once
// What `ksight top` shows, kept apart from the terminal so it can be tested:
// per process or per container (cgroup), the rates of the last interval —
// CPU from profile samples, execs, syscalls, opens, TCP connections, bytes
// and retransmits — from the events the probes emit and the counters they
// keep in the kernel.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/registry.h"

namespace ksight::cli {

// Rows per process, per cgroup (container), or per pod, namespace or
// systemd unit: cgroups whose identity (identity::Resolver) shares the name.
enum class TopGroup : uint8_t { process, container, pod, namespace_, unit };
std::optional<TopGroup> top_group_from_string(std::string_view s);

enum class TopColumn : uint8_t { cpu, execs, syscalls, opens, tcp, bytes, retrans, count };

std::optional<TopColumn> top_column_from_string(std::string_view s);
std::string_view to_string(TopColumn c);

struct TopRow {
  std::string key;   // pid, cgroup id, or how many cgroups a pod/namespace/unit row sums
  std::string name;  // command, cgroup path, pod, namespace or unit
  // Per second over the interval; cpu is percent of one CPU.
  std::array<double, static_cast<size_t>(TopColumn::count)> values{};
  double operator[](TopColumn c) const { return values[static_cast<size_t>(c)]; }
};

class TopModel : public core::EventSink {
 public:
  TopModel(TopGroup group, double sample_hz) : group_(group), sample_hz_(sample_hz) {}

  // Dispatcher thread: counts the events of the interval.
  void on_event(const core::EventView& ev) override;

  // Closes an interval of `seconds`: the events counted since the last call,
  // plus what the cumulative counters in `snapshot` grew by. Rows of cgroups
  // are named by `cgroup_name` (id -> path, pod, namespace or unit); by pod,
  // namespace or unit, cgroups of one name become one row.
  std::vector<TopRow> tick(const std::vector<core::FamilySnapshot>& snapshot, double seconds,
                           const std::function<std::string(uint64_t)>& cgroup_name);

  TopGroup group() const { return group_; }

 private:
  struct Accumulated {
    std::string name;
    std::array<double, static_cast<size_t>(TopColumn::count)> counts{};
  };
  void add(const std::string& key, std::string_view name, TopColumn c, double v);
  void add_counter_deltas(const std::vector<core::FamilySnapshot>& snapshot,
                          std::string_view family, TopColumn column,
                          std::map<std::string, Accumulated>& rows);

  TopGroup group_;
  double sample_hz_;
  std::mutex mu_;
  std::map<std::string, Accumulated> events_;   // this interval's, under mu_
  std::map<std::string, double> last_counter_;  // cumulative value per series
};

// Sorts rows by `sort` (largest first) and renders them as a table of at most
// `max_rows` rows; `header` goes above it.
std::string render_top(std::vector<TopRow> rows, TopGroup group, TopColumn sort, size_t max_rows,
                       const std::string& header);

}  // namespace ksight::cli
