#pragma once
// A probe: one BPF object, loaded with the attach variant the kernel allows,
// plus the code that turns its records into metric updates and events.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/attach.h"
#include "bpf/event_channel.h"
#include "core/event.h"
#include "core/registry.h"
#include "profile/stack_profile.h"

struct btf;

namespace ksight::probes {

// A kernel map whose key holds a cgroup v2 id (a u64 at `cgroup_offset`):
// entries of cgroups that no longer exist are deleted from it, so a node
// with pod churn does not fill it with the dead and fold every new cgroup
// into the overflow key (cgroup id 0).
struct CgroupMap {
  std::string_view name;
  size_t cgroup_offset = 0;
};

// Settings a probe object is loaded with. Filters apply in the kernel.
struct LoadRequest {
  const bpf::EventChannel* channel = nullptr;
  const bpf::AttachVariant* variant = nullptr;
  uint64_t wakeup_bytes = 0;   // force a reader wake-up past this ring fill
  uint32_t filter_tgid = 0;    // 0: every process
  std::string filter_comm;     // empty: every command
  uint64_t filter_cgroup = 0;  // cgroup v2 id; 0: every cgroup
  // A BPF hash of cgroup ids (u64 -> u8) to trace, kept current by the
  // agent (workload filters); -1: none.
  int cgroup_filter_fd = -1;
  bool filter_failed = false;  // only failures (non-zero exits, failed opens)
  // In-kernel token bucket for the probe's records: events per second over
  // the whole machine, and the burst it may take at once; 0: no limit.
  uint64_t rate_limit = 0;
  uint64_t rate_burst = 0;
  uint32_t sample_frequency_hz = 99;  // perf_event probes: samples per second per CPU
  // Keep per-process counts as well where a probe can (syscalls): what
  // `ksight top` shows; too many series for the daemon.
  bool per_process = false;
  // The probe's per-cgroup maps, and their size when not 0 (cgroups.map_entries).
  std::span<const CgroupMap> cgroup_maps = {};
  uint32_t cgroup_map_entries = 0;
  // Stack probes (profile, offcpu): count kernel and user stacks in the
  // kernel for Probe::stack_source() to drain. Off, their stack maps take one
  // entry each (the daemon's default for profile).
  bool stacks = false;
  // offcpu: blocks shorter than this are not counted.
  uint64_t offcpu_min_block_ns = 1'000'000;
};

// What a stack probe (profile, offcpu) loaded with LoadRequest::stacks gives
// the profiler: the stacks the kernel counted, drained without losing a
// sample between two drains, and a notice of each process seen for the first
// time (src/probes/stack_sets.h has how).
class StackSource {
 public:
  virtual ~StackSource() = default;
  // Switches the kernel to its other set of maps, waits until no program
  // writes the old one, then reads and empties it: every stack counted since
  // the previous drain, exactly once, one RawStack per (pid, cgroup, kernel
  // stack, user stack). Any thread may call it; drains run one at a time.
  virtual std::expected<std::vector<profile::RawStack>, std::string> drain_stacks() = 0;
  // `on_new_process(pid)` runs on the dispatcher thread (inside decode(),
  // under the registry's write lock: keep it short) the first time a process
  // is sampled, so its /proc/PID/maps can be read before it exits. Any thread
  // may set it; an empty function turns it off.
  virtual void set_new_process_callback(std::function<void(uint32_t pid)> on_new_process) = 0;
  // Stops (false) or resumes (true) taking stacks in the kernel, the counts
  // per cgroup and process going on: the daemon takes stacks only while a
  // /debug/pprof profile is being taken. A probe starts taking them.
  virtual std::expected<void, std::string> set_active(bool active) = 0;
  virtual profile::ProfileKind kind() const = 0;
  // cpu: the sampling period (1e9 / frequency), which value_ns is count x;
  // offcpu: 0 (value_ns is measured).
  virtual uint64_t period_ns() const = 0;
};

// How a probe's records leave the kernel (struct ksight_emit_control): kept
// with probability 1/period, errors kept whatever the period when
// keep_errors, none at all when counts_only (the in-kernel counts go on).
struct EmitControl {
  uint32_t period = 1;
  bool keep_errors = true;
  bool counts_only = false;
  bool operator==(const EmitControl&) const = default;
};

struct ProgramStats {
  std::string program;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
};

// What a loaded probe holds in the kernel, for `ksight explain`: each
// program's size as the verifier left it and as the JIT made it, and each
// map's shape and the memory the kernel charges for it.
struct ProgramInfo {
  std::string name;
  uint32_t xlated_bytes = 0;    // after the verifier's rewrites; 8 bytes per instruction
  uint32_t jited_bytes = 0;     // 0 when the JIT is off
  uint32_t verified_insns = 0;  // instructions the verifier walked; 0 before Linux 5.16
};
struct MapInfo {
  std::string name;
  uint32_t type = 0;  // BPF_MAP_TYPE_*
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
  uint64_t memlock_bytes = 0;  // the kernel's figure (/proc/self/fdinfo), at this CPU count
  // Linux 5.11 to 6.3 report (key + value) x entries, which is 0 for a ring
  // buffer: its data size is given instead.
  bool memlock_estimated = false;
  bool shared = false;  // the event channel, or another map every probe shares
};
struct ObjectInfo {
  std::vector<ProgramInfo> programs;  // the attached ones
  std::vector<MapInfo> maps;
};

class Probe {
 public:
  virtual ~Probe() = default;
  // Decodes one record of this probe: updates metrics through `w`, and fills
  // `ev` when it is non-null (some sink wants events). False when the record
  // is malformed (wrong size), which the caller counts.
  virtual bool decode(std::span<const std::byte> record, core::Registry::Writer& w,
                      core::EventView* ev) = 0;
  // The kernel's ledger slots: records it could not emit, by KSIGHT_DROP_*
  // reason, then KSIGHT_COUNT_GENERATED and KSIGHT_COUNT_ERRORS.
  virtual std::vector<uint64_t> kernel_drops() const = 0;
  // Sampling and shedding (the fidelity controller); false when unsupported.
  virtual bool set_emit_control(const EmitControl&) { return false; }
  // The overhead governor's last step: detach (false) or attach again.
  virtual std::expected<void, std::string> set_attached(bool) {
    return std::unexpected(std::string("this probe cannot be detached"));
  }
  virtual std::vector<ProgramStats> program_stats() const = 0;
  virtual ObjectInfo object_info() const { return {}; }
  // Reads what the probe aggregates in kernel maps into the registry; runs at
  // scrape and export time, under the registry's lock.
  virtual void refresh(core::Registry::Writer&) {}
  // Deletes the entries of cgroups for which `exists` is false from the
  // probe's per-cgroup maps (never the overflow key 0); returns how many.
  virtual size_t prune_cgroups(const std::function<bool(uint64_t)>& exists) {
    (void)exists;
    return 0;
  }
  // The stacks a stack probe counts; nullptr for other probes, and for stack
  // probes loaded without LoadRequest::stacks. Lives as long as the probe.
  virtual StackSource* stack_source() { return nullptr; }
};

using ProbeFactory = std::expected<std::unique_ptr<Probe>, std::string> (*)(const LoadRequest&,
                                                                            core::Registry&);

// A `--by` key: the name on the command line and the label it reads.
struct ByKey {
  std::string_view name;   // cgroup, process, disk, syscall
  std::string_view label;  // cgroup_id, comm, disk, syscall
};

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
  // Keys `ksight trace --by` can break the histogram or counters down by,
  // each naming the metric label that carries it.
  std::span<const ByKey> by = {};
  // Counters `ksight trace` prints as a table at exit (probes without events
  // or histogram, or with counts worth a summary).
  std::span<const std::string_view> counters = {};
  // Records go through the in-kernel token bucket (events.rate_limit).
  bool rate_limited = false;
  // Maps keyed by cgroup: pruned of dead cgroups, sized by cgroups.map_entries.
  std::span<const CgroupMap> cgroup_maps = {};

  // Whether its records are events for the sinks (the ones with columns):
  // what sampling, shedding and the loss ledger are about.
  bool emits_events() const { return !columns.empty(); }
};

std::span<const ProbeSpec> probe_table();
// What the kernel whose BTF is `vmlinux` lacks for `probe` although the probe
// loads there: the probe works, reporting less (docs/kernels.md). Empty when
// nothing is missing.
std::string kernel_limits(std::string_view probe, const struct btf* vmlinux);
const ProbeSpec* find_probe(std::string_view name);
// Probe names closest to `name`, for "did you mean" messages.
std::vector<std::string_view> closest_probes(std::string_view name);

}  // namespace ksight::probes
