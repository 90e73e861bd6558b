#pragma once
// A probe: one BPF object, loaded with the attach variant the kernel allows,
// plus the code that turns its records into metric updates and events.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/attach.h"
#include "bpf/event_channel.h"
#include "core/event.h"
#include "core/registry.h"

namespace ksight::probes {

// Settings a probe object is loaded with. Filters apply in the kernel.
struct LoadRequest {
  const bpf::EventChannel* channel = nullptr;
  const bpf::AttachVariant* variant = nullptr;
  uint64_t wakeup_bytes = 0;   // force a reader wake-up past this ring fill
  uint32_t filter_tgid = 0;    // 0: every process
  std::string filter_comm;     // empty: every command
  uint64_t filter_cgroup = 0;  // cgroup v2 id; 0: every cgroup
  bool filter_failed = false;  // only failures (non-zero exits, failed opens)
};

struct ProgramStats {
  std::string program;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
};

class Probe {
 public:
  virtual ~Probe() = default;
  // Decodes one record of this probe: updates metrics through `w`, and fills
  // `ev` when it is non-null (some sink wants events). False when the record
  // is malformed (wrong size), which the caller counts.
  virtual bool decode(std::span<const std::byte> record, core::Registry::Writer& w,
                      core::EventView* ev) = 0;
  // Records the kernel side could not emit, by KSIGHT_DROP_* reason.
  virtual std::vector<uint64_t> kernel_drops() const = 0;
  virtual std::vector<ProgramStats> program_stats() const = 0;
  // Reads what the probe aggregates in kernel maps into the registry; runs at
  // scrape and export time, under the registry's lock.
  virtual void refresh(core::Registry::Writer&) {}
};

using ProbeFactory = std::expected<std::unique_ptr<Probe>, std::string> (*)(const LoadRequest&,
                                                                            core::Registry&);

// One row of the probe table (registry.cpp).
struct ProbeSpec {
  std::string_view name;
  std::string_view summary;
  uint16_t id;  // KSIGHT_PROBE_*: the probe_id in its records
  bool default_on;
  std::span<const bpf::AttachVariant> variants;  // in order of preference
  ProbeFactory create;
  std::span<const std::string_view> columns;  // event fields `ksight trace` prints, in order
  // For a probe that aggregates in the kernel: the histogram `ksight trace`
  // prints (log2, in microseconds) at exit and every --interval.
  std::string_view histogram = {};
  // For a probe that only counts in the kernel: the counter families `ksight
  // trace` prints as a table at exit and every --interval.
  std::span<const std::string_view> totals = {};
};

std::span<const ProbeSpec> probe_table();
const ProbeSpec* find_probe(std::string_view name);
// Probe names closest to `name`, for "did you mean" messages.
std::vector<std::string_view> closest_probes(std::string_view name);

}  // namespace ksight::probes
