#pragma once
// The agent: owns the kernel features, the event channel, the loaded probes,
// the reader thread and the dispatcher thread, and publishes its own health
// as metrics. `ksight run` and `ksight trace` both drive one.
//
//   BPF programs -> event channel -> reader thread -> BatchQueue
//                -> dispatcher thread -> probe decode -> Registry + event sinks
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bpf/event_channel.h"
#include "bpf/features.h"
#include "core/event.h"
#include "core/registry.h"
#include "probes/probe.h"
#include "runtime/batch_queue.h"
#include "runtime/fidelity.h"

namespace ksight::identity {
class Resolver;
}

namespace ksight::runtime {

struct AgentOptions {
  std::vector<std::string> probes;  // names from the probe table
  bool require_all = false;         // fail when any probe cannot attach (trace)
  bool force_perf_buffer = false;   // use the perf buffer even where a ring exists
  size_t channel_bytes = 8u << 20;  // ring buffer size
  uint64_t drain_interval_ms = 5;   // reader timer
  double wakeup_fill = 0.5;         // forced wake-up past this ring fill
  size_t queue_batches = 64;        // batches that may wait for the dispatcher
  size_t batch_bytes = 256u << 10;  // bytes per batch
  uint32_t filter_tgid = 0;
  std::string filter_comm;
  uint64_t filter_cgroup = 0;
  // Trace only the cgroups given to set_cgroup_filter() (workload filters).
  bool filter_cgroup_set = false;
  bool filter_failed = false;
  uint64_t event_rate_limit = 0;  // records/s per rate-limited probe; 0: none
  uint64_t event_rate_burst = 0;  // 0: one second's worth
  uint32_t profile_frequency_hz = 99;
  // Stack probes (profile, offcpu) to load with their stack maps: trace's
  // stack outputs, the daemon's /debug/pprof. The others cost nothing for them.
  std::set<std::string> stack_probes;
  uint64_t offcpu_min_block_ns = 1'000'000;
  bool per_process = false;  // per-process counts where probes can (ksight top)
  bool bpf_stats = true;     // keep BPF run-time stats on
  std::set<std::string> disabled_features;
  // Names every event's cgroup (EventView::identity), and learns which
  // cgroups went at each prune sweep. Outlives the agent; null: ids only.
  identity::Resolver* resolver = nullptr;
  uint32_t cgroup_map_entries = 0;                        // 0: each map's compiled-in size
  uint64_t cgroup_prune_interval_ns = 10'000'000'000ull;  // 0: never prune
  // Adaptive sampling by probe name, and the overhead budget
  // (docs/fidelity.md). Either one starts the control thread.
  std::map<std::string, config::Config::Sampling> sampling;
  config::Config::Budget budget;
};

struct ProbeStatus {
  std::string name;
  bool up = false;
  std::string method;  // attach method in use, when up
  std::string target;
  std::string reason;  // why not, when down
};

// Why events were lost, as the `reason` label says it.
// Whether the reader and dispatcher threads are alive: each beats whenever it
// wakes for work and is alive while blocked waiting for it; one that is
// neither waiting nor has beaten for kStallNs is dead or stuck (in a decode,
// a sink), and the agent is blind.
struct AgentHealth {
  bool ok = true;
  std::string detail;  // one line per thread that is not running
};

enum class LossReason : uint8_t {
  buffer_full,
  rate_limit,
  queue_full,
  perf_overwritten,
  malformed,
  stack_lost,  // stack probes: a sample counted without its stack (stack map full)
  map_full,    // stack probes: the per-stack counts were full, the sample is lost
  count
};
std::string_view to_string(LossReason r);

class Agent {
 public:
  static std::expected<std::unique_ptr<Agent>, std::string> start(
      const AgentOptions& opts, core::Registry& registry, std::vector<core::EventSink*> sinks);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Stops the reader after a final drain, lets the dispatcher empty the
  // queue, then joins both. Idempotent; the destructor calls it and then
  // detaches every program.
  void stop();

  // Read from the thread that calls set_probes() (or after stop()).
  const std::vector<ProbeStatus>& status() const { return status_; }

  // A configuration reload: makes `names` the probe set. Probes not running
  // yet are loaded and attached (with the options the agent started with);
  // probes no longer listed are detached and their agent series (probe_up,
  // events received/lost, program stats) removed; the others are left alone,
  // so their counters go on. Never fails as a whole: a probe that cannot
  // attach is reported off, as at start. Not concurrent with stop().
  struct ProbeChange {
    std::vector<std::string> added, removed, failed;  // failed: "name: why"
  };
  ProbeChange set_probes(const std::vector<std::string>& names);
  // cgroups.prune_interval, live; 0: never prune.
  void set_cgroup_prune_interval(uint64_t ns);
  bpf::ChannelKind channel_kind() const { return channel_->kind(); }
  // The stacks of the running probe `name` when it was loaded with them
  // (AgentOptions::stack_probes); null otherwise. Valid until set_probes()
  // unloads that probe, or the agent goes.
  probes::StackSource* stack_source(std::string_view name);
  // A BPF map the agent holds, to test what bpf() allows without privileges.
  int channel_map_fd() const { return channel_->map_fd(); }
  uint64_t events_received() const;
  uint64_t events_lost() const;  // all reasons, user space and kernel
  // The same, by reason (indexed by LossReason).
  std::array<uint64_t, static_cast<size_t>(LossReason::count)> events_lost_by_reason() const;

  // The cgroups a filter_cgroup_set agent traces, replacing the last set.
  // Fails past kMaxFilterCgroups (the ids that fit are kept).
  static constexpr uint32_t kMaxFilterCgroups = 4096;
  std::expected<void, std::string> set_cgroup_filter(const std::set<uint64_t>& ids);

  static constexpr uint64_t kStallNs = 3'000'000'000ull;
  AgentHealth health(uint64_t now_mono_ns) const;

 private:
  class Reader;
  Agent(const AgentOptions& opts, core::Registry& registry, std::vector<core::EventSink*> sinks);
  std::expected<void, std::string> load_probes();
  // Loads and attaches one probe, trying each attach variant; null when none
  // works (`st` says why).
  std::unique_ptr<probes::Probe> load_one(const probes::ProbeSpec& spec, ProbeStatus& st);
  void register_self_metrics();
  // The fidelity families: sampling ratio, fidelity, the governor, the loss
  // ledger and completeness (runtime/agent_control.cpp).
  void register_fidelity_metrics();
  // `kernel_counts`: each probe's kernel drop and ledger slots, as the
  // refresher read them this scrape (Probe::kernel_drops()).
  void refresh_fidelity_metrics(core::Registry::Writer& w,
                                const std::vector<std::vector<uint64_t>>& kernel_counts);
  // The control thread: every budget.interval, adapts sampling and runs the
  // governor (runtime/agent_control.cpp).
  void control_loop();
  void control_tick(core::Registry::Writer& w);
  void governor_step(core::Registry::Writer& w, OverheadGovernor::Verdict v,
                     const std::vector<double>& probe_bpf_ns);
  probes::EmitControl wanted_emit(uint16_t id) const;
  void shed_load_time_memory();
  // Whether a running probe keeps per-cgroup kernel maps (discovery must walk
  // on a timer, not only when events come); after every change of probes.
  void note_cgroup_map_probes();
  void read_loop();
  void dispatch_loop();
  probes::Probe* probe_for(uint16_t id) const;

  static constexpr size_t kMaxProbeIds = 64;

  AgentOptions opts_;
  core::Registry& registry_;
  std::vector<core::EventSink*> sinks_;
  bpf::KernelFeatures features_;
  bpf::Fd stats_fd_;               // keeps BPF_ENABLE_STATS on while held
  bpf::Fd cgroup_filter_;          // shared by every probe object, when filtering
  std::set<uint64_t> filter_ids_;  // what cgroup_filter_ holds
  std::unique_ptr<bpf::EventChannel> channel_;
  std::vector<std::unique_ptr<probes::Probe>> probes_;
  std::vector<const probes::ProbeSpec*> specs_;  // parallel to probes_
  std::vector<ProbeStatus> status_;
  std::unique_ptr<BatchQueue> queue_;
  std::unique_ptr<Reader> reader_;

  // Counters by probe id, written by one thread each, read by the refresher.
  std::array<std::atomic<uint64_t>, kMaxProbeIds> received_{};
  std::array<std::array<std::atomic<uint64_t>, static_cast<size_t>(LossReason::count)>,
             kMaxProbeIds>
      lost_{};
  // Probes being attached or detached by set_probes(): their records may
  // meet no decoder, and are dropped without being counted as malformed.
  std::array<std::atomic<bool>, kMaxProbeIds> quiet_{};
  // Records decoded, by probe id (the dispatcher's side of the ledger).
  std::array<std::atomic<uint64_t>, kMaxProbeIds> decoded_{};

  // Sampling and the governor, by probe id; touched under the registry lock
  // (the control thread's tick and the refresher both hold a Writer).
  struct ProbeControl {
    const probes::Probe* owner = nullptr;  // the loaded probe this state is for
    std::optional<AdaptiveSampler> sampler;
    probes::EmitControl applied;  // what its ksight_emit_control holds
    uint64_t last_generated = 0, last_errors = 0, last_run_ns = 0;
    bool detached = false;       // by the governor
    bool attach_failed = false;  // attaching again failed: it stays off
  };
  std::array<ProbeControl, kMaxProbeIds> control_{};
  OverheadGovernor governor_{config::Config::Budget{}};
  unsigned governor_level_ = 0;  // 0 all, 1 sampled, 2 counts only, 2+n: n probes detached
  std::vector<uint16_t> governor_detached_;  // probe ids, in the order detached
  uint64_t last_tick_ns_ = 0;
  double last_agent_cpu_s_ = 0;
  double bpf_cpu_share_ = 0, agent_cpu_share_ = 0;  // over the last interval
  bool said_nothing_left_ = false;
  std::thread control_thread_;
  std::mutex control_mu_;
  std::condition_variable control_cv_;
  bool stop_control_ = false;
  // Completeness over a window: (time, generated, delivered) by probe and sink.
  std::map<std::pair<uint16_t, std::string>, std::deque<std::array<double, 3>>> completeness_;
  core::FamilyId sampling_family_ = 0, fidelity_family_ = 0, level_family_ = 0,
                 cpu_share_family_ = 0, budget_family_ = 0, ledger_family_ = 0, sink_family_ = 0,
                 sink_pending_family_ = 0, completeness_family_ = 0;
  // The agent's families labelled by probe first (removed with the probe),
  // and ksight_probe_up.
  std::vector<core::FamilyId> per_probe_families_;
  core::FamilyId up_family_ = 0;
  std::atomic<uint64_t> perf_overwritten_{0};  // perf buffer losses carry no probe id
  std::atomic<bool> reader_done_{false};
  std::atomic<bool> stop_reader_{false};
  size_t refresher_token_ = 0;
  bool refresher_added_ = false;
  std::atomic<int> reader_tid_{0};
  std::atomic<int> dispatcher_tid_{0};
  // Heartbeats (mono ns), for health(), and whether each thread is blocked
  // waiting for work (alive, with nothing to do).
  std::atomic<uint64_t> reader_beat_ns_{0};
  std::atomic<uint64_t> dispatcher_beat_ns_{0};
  std::atomic<bool> reader_waiting_{false};
  std::atomic<bool> dispatcher_waiting_{false};
  std::atomic<bool> discover_periodically_{false};
  bpf::Fd stop_event_;  // eventfd: stop() wakes the reader out of poll()
  uint64_t started_ns_ = 0;
  // Dead-cgroup pruning; touched only by the refresher, under the registry lock.
  uint64_t next_prune_ns_ = 0;
  uint64_t cgroups_pruned_ = 0;
  std::thread reader_thread_;
  std::thread dispatcher_thread_;
  bool stopped_ = false;
};

}  // namespace ksight::runtime
