#pragma once
// cgroup id -> who runs there. The one place that turns the cgroup v2 id a
// BPF program saw into the labels an operator reads (namespace, pod,
// container, workload, unit...), for every probe's metrics, every event and
// every filter:
//
//   id --(file handle on the cgroup2 mount, or a walk)--> path
//      --(parse_cgroup_path)--> container id, pod UID, QoS, systemd unit
//      --(PodStore, when the Kubernetes watch runs)--> pod, namespace,
//        container name, workload
//
// Results are cached per id, bounded, and refreshed when the pod store
// changes (a pod's metadata may arrive after its first event). A cgroup that
// is gone keeps its identity for a grace period, so late events and the last
// scrape of its counters still carry names.
#include <array>
#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/registry.h"
#include "identity/cgroup_path.h"

namespace ksight::identity {

class PodStore;

// The labels an identity can carry; `identity.labels` picks among them.
enum class Label : uint8_t {
  namespace_,
  pod,
  container,
  workload,
  workload_kind,
  unit,
  cgroup,        // the cgroup path
  cgroup_id,     // the number (opt-in: unbounded over time)
  container_id,  // 64 hex digits
  pod_uid,
  qos,
  runtime,
  count
};
std::string_view label_name(Label l);
std::expected<Label, std::string> parse_label(std::string_view name);
// What the default configuration uses. (Their OpenTelemetry names:
// exporters::otel_attribute_name.)
std::vector<Label> default_labels();

struct Identity {
  uint64_t cgroup_id = 0;
  std::string path;  // relative to the cgroup2 mount; empty when unresolved
  CgroupPathInfo parsed;
  std::string ns, pod, container, workload, workload_kind;
  // Every Label's value, in Label order: what labels and events read.
  std::array<std::string, static_cast<size_t>(Label::count)> values;
};

// Why an id got less than a full identity (ksight_identity_unresolved_total).
enum class Unresolved : uint8_t {
  cgroup_gone,   // no cgroup with that id: it went before we asked
  unknown_path,  // a path no layout matches: labelled by its path
  pod_unknown,   // a pod UID or container the Kubernetes watch does not know (yet)
  cache_full,    // more live cgroups than the cache holds: resolved again each time
  count
};
std::string_view to_string(Unresolved r);

class Resolver final : public core::LabelExpander {
 public:
  struct Options {
    std::vector<Label> labels = default_labels();  // on metrics, in this order
    std::string cgroup_root;                       // cgroup2 mount; empty: find it
    const PodStore* pods = nullptr;                // Kubernetes metadata, when watched
    size_t max_entries = 16384;
    uint64_t gone_grace_ns = 120'000'000'000ull;  // keep the identity of a removed cgroup
    uint64_t discover_interval_ns = 1'000'000'000ull;
    // Tests: the path of an id ("" for none) instead of asking the kernel.
    std::function<std::string(uint64_t)> lookup_path;
  };
  explicit Resolver(Options opts);
  ~Resolver() override;

  // The identity of `id` (cached). Thread-safe.
  std::shared_ptr<const Identity> resolve(uint64_t id);
  // The configured labels' (name, value) pairs for events: only those with
  // a value. Valid as long as the returned pointer is held.
  struct EventLabels {
    std::shared_ptr<const Identity> identity;
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
  };
  std::shared_ptr<const EventLabels> event_labels(uint64_t id);

  // A cgroup was found gone: its identity stays for the grace period (late
  // events, the last scrape of its counters), then the entry goes.
  void mark_gone(uint64_t id, uint64_t now_mono_ns);
  // Asks `exists` about every cached cgroup (outside the lock), marks the
  // gone, and drops those gone for longer than the grace period: what keeps
  // the cache bounded by the cgroups alive, not by those ever seen.
  void sweep(uint64_t now_mono_ns, const std::function<bool(uint64_t)>& exists);
  // Drops entries gone for longer than the grace period.
  void expire(uint64_t now_mono_ns);
  // Resolves the cgroups created since the last call (one walk of the tree,
  // at most once per discover_interval_ns): a container that lives a second
  // or two and sends no event (its numbers stay in kernel maps until the
  // next scrape) is named while it still exists. Returns how many were new.
  size_t discover(uint64_t now_mono_ns);
  // ksight_identity_unresolved_total{reason} and ksight_identity_cache_entries
  // on `reg`, read at every collect. Returns the refresher's token.
  size_t publish(core::Registry& reg);

  std::span<const Label> labels() const { return opts_.labels; }
  uint64_t unresolved(Unresolved r) const {
    return unresolved_[static_cast<size_t>(r)].load(std::memory_order_relaxed);
  }
  size_t cached() const;

  // core::LabelExpander: "cgroup_id" on a metric becomes the configured labels.
  std::string_view source_label() const override { return "cgroup_id"; }
  std::span<const std::string> expanded_names() const override { return names_; }
  void expand(std::string_view cgroup_id, std::vector<std::string>& out) override;

 private:
  struct Entry {
    std::shared_ptr<const Identity> identity;
    std::shared_ptr<const EventLabels> events;
    uint64_t pods_generation = 0;
    uint64_t gone_since_ns = 0;  // 0: alive (as far as we know)
  };
  std::shared_ptr<Identity> build(uint64_t id, std::string path);
  void join_pods(Identity& id);
  void fill_values(Identity& id) const;
  const Entry& entry_locked(uint64_t id);
  // The cgroup's path relative to the mount; empty when there is no such cgroup.
  std::string path_of(uint64_t id);
  void count(Unresolved r) { unresolved_[static_cast<size_t>(r)].fetch_add(1); }

  Options opts_;
  std::vector<std::string> names_;
  int mount_fd_ = -1;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> entries_;
  Entry scratch_;  // a miss past max_entries lives here until the next call
  // Paths by id from one walk of the tree, where file handles are refused
  // (no CAP_DAC_READ_SEARCH); walked again at most once a second on a miss.
  bool use_handles_ = true;
  std::unordered_map<uint64_t, std::string> walked_;
  uint64_t walked_at_ns_ = 0;
  uint64_t discovered_at_ns_ = 0;
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Unresolved::count)> unresolved_{};
};

}  // namespace ksight::identity
