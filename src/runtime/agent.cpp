#include "runtime/agent.h"

#include <bpf/bpf.h>
#include <malloc.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/clock.h"
#include "identity/resolver.h"
#include "ksight/abi/common.h"
#include "runtime/cgroup.h"
#include "runtime/self_stats.h"
#include "version.h"

namespace ksight::runtime {

namespace {
int current_tid() {
  return static_cast<int>(::syscall(SYS_gettid));
}
}  // namespace

std::string_view to_string(LossReason r) {
  switch (r) {
    case LossReason::buffer_full:
      return "buffer_full";
    case LossReason::rate_limit:
      return "rate_limit";
    case LossReason::queue_full:
      return "queue_full";
    case LossReason::perf_overwritten:
      return "perf_overwritten";
    case LossReason::malformed:
      return "malformed";
    case LossReason::stack_lost:
      return "stack_lost";
    case LossReason::map_full:
      return "map_full";
    case LossReason::count:
      break;
  }
  return "unknown";
}

// The reader thread's side: copies records into the batch it fills and hands
// full batches to the queue. Runs only on the reader thread.
class Agent::Reader final : public bpf::RecordHandler {
 public:
  explicit Reader(Agent& a) : agent_(a) {}

  void on_record(const void* data, size_t size) override {
    uint16_t id = 0;
    if (size >= sizeof(ksight_event_header)) {
      // A perf buffer sample starts 4 bytes past an 8-byte boundary (after
      // its u32 size): copy the header out rather than read it in place.
      // Batches store each record 8-byte aligned for the decoders.
      ksight_event_header header;
      std::memcpy(&header, data, sizeof header);
      id = header.probe_id;
    }
    if (id == 0 || id >= kMaxProbeIds) {
      agent_.lost_[0][static_cast<size_t>(LossReason::malformed)].fetch_add(
          1, std::memory_order_relaxed);
      return;
    }
    ++received_[id];  // published once per drain, not per event
    ++drained_;
    if (!batch_) batch_ = agent_.queue_->reopen_tail_or_acquire(KSIGHT_MAX_EVENT_SIZE);
    drained_bytes_ += size;
    if (batch_ && !batch_->append(data, size)) {
      flush(/*wake=*/false);  // the dispatcher is woken once, at the end of the drain
      batch_ = agent_.queue_->acquire();
      if (batch_ && batch_->append(data, size)) return;
    } else if (batch_) {
      return;
    }
    // No batch to write into: the dispatcher holds them all.
    agent_.lost_[id][static_cast<size_t>(LossReason::queue_full)].fetch_add(
        1, std::memory_order_relaxed);
  }

  // Records and bytes seen since the last call (perf_buffer__consume
  // reports no count).
  uint64_t take_drained() { return std::exchange(drained_, 0); }
  uint64_t take_drained_bytes() { return std::exchange(drained_bytes_, 0); }

  void on_lost(uint64_t count) override {
    agent_.perf_overwritten_.fetch_add(count, std::memory_order_relaxed);
  }

  // Hands the current batch to the dispatcher; when the queue is full its
  // records are counted as lost, by probe, and the batch is reused. Also
  // publishes the receive counts gathered since the last flush. With `wake`
  // the dispatcher is woken for every batch handed over since the last wake.
  void flush(bool wake = true) {
    for (size_t id = 0; id < kMaxProbeIds; ++id) {
      if (received_[id]) {
        agent_.received_[id].fetch_add(received_[id], std::memory_order_relaxed);
        received_[id] = 0;
      }
    }
    if (!batch_ || batch_->empty()) {
      if (wake && unwoken_) agent_.queue_->notify();
      unwoken_ = unwoken_ && !wake;
      return;
    }
    if (agent_.queue_->try_push(batch_, wake)) {
      batch_ = nullptr;
      unwoken_ = !wake;
      return;
    }
    for (size_t i = 0; i < batch_->size(); ++i) {
      auto rec = batch_->record(i);
      auto id = reinterpret_cast<const ksight_event_header*>(rec.data())->probe_id;
      agent_.lost_[id][static_cast<size_t>(LossReason::queue_full)].fetch_add(
          1, std::memory_order_relaxed);
    }
    batch_->clear();
  }

  void release() {
    if (batch_) agent_.queue_->release(batch_);
    batch_ = nullptr;
  }

 private:
  Agent& agent_;
  EventBatch* batch_ = nullptr;
  std::array<uint64_t, kMaxProbeIds> received_{};
  uint64_t drained_ = 0;
  uint64_t drained_bytes_ = 0;
  bool unwoken_ = false;  // batches were queued without waking the dispatcher
};

Agent::Agent(const AgentOptions& opts, core::Registry& registry,
             std::vector<core::EventSink*> sinks)
    : opts_(opts),
      registry_(registry),
      sinks_(std::move(sinks)),
      features_(opts.disabled_features) {}

std::expected<std::unique_ptr<Agent>, std::string> Agent::start(
    const AgentOptions& opts, core::Registry& registry, std::vector<core::EventSink*> sinks) {
  std::unique_ptr<Agent> a(new Agent(opts, registry, std::move(sinks)));

  if (opts.bpf_stats) {
    a->stats_fd_ = bpf::Fd(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!a->stats_fd_) {
      spdlog::warn("BPF run-time stats unavailable ({}): program run counts will read 0",
                   std::strerror(errno));
    }
  }

  auto rb = a->features_.ringbuf();
  bpf::ChannelKind kind = bpf::ChannelKind::ring_buffer;
  if (opts.force_perf_buffer) {
    kind = bpf::ChannelKind::perf_buffer;
    spdlog::info("event channel: perf buffer (forced by configuration)");
  } else if (!rb.ok) {
    kind = bpf::ChannelKind::perf_buffer;
    spdlog::warn("event channel: perf buffer, because the ring buffer is unavailable: {}",
                 rb.reason);
  }
  auto channel = bpf::EventChannel::create(kind, opts.channel_bytes);
  if (!channel) return std::unexpected(channel.error());
  a->channel_ = std::make_unique<bpf::EventChannel>(std::move(*channel));

  // Batches hold records of up to KSIGHT_MAX_EVENT_SIZE; at least a few per batch.
  size_t batch_bytes = std::max<size_t>(opts.batch_bytes, 4 * KSIGHT_MAX_EVENT_SIZE);
  a->queue_ = std::make_unique<BatchQueue>(std::max<size_t>(opts.queue_batches, 1), batch_bytes,
                                           batch_bytes / sizeof(ksight_event_header));
  a->reader_ = std::make_unique<Reader>(*a);
  a->stop_event_ = bpf::Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!a->stop_event_) return std::unexpected(std::string("eventfd: ") + std::strerror(errno));
  // The consumer before the probes: a perf event array has no place to write
  // until perf_buffer__new has opened a buffer per CPU, so a program that
  // fires earlier loses its record (a ring buffer would just hold it).
  if (auto r = a->channel_->open_reader(a->reader_.get()); !r) return std::unexpected(r.error());
  if (auto r = a->load_probes(); !r) return std::unexpected(r.error());
  // The fidelity families first: the refresher register_self_metrics() adds
  // may run at once (a scrape during start-up), and it sets them.
  a->register_fidelity_metrics();
  a->register_self_metrics();
  a->shed_load_time_memory();
  // Sampling applies from the first record: the first tick now, the next
  // ones on the control thread (only when there is something to control).
  const bool control = !opts.sampling.empty() || a->governor_.enabled();
  if (control) {
    auto w = registry.write(core::mono_ns());
    a->control_tick(w);
  }

  Agent* self = a.get();
  a->started_ns_ = core::mono_ns();
  a->dispatcher_thread_ = std::thread([self] { self->dispatch_loop(); });
  if (control) a->control_thread_ = std::thread([self] { self->control_loop(); });
  a->reader_thread_ = std::thread([self] {
    self->reader_tid_ = current_tid();
    // Fault injection, for the health tests (docs/configuration.md): the
    // reader stops as if it had died, leaving the dispatcher running.
    if (const char* f = std::getenv("KSIGHT_FAULT_INJECT");
        f && std::string_view(f) == "reader_exit") {
      spdlog::warn("KSIGHT_FAULT_INJECT=reader_exit: the reader thread stops now");
      return;
    }
    self->read_loop();
  });
  return a;
}

void Agent::note_cgroup_map_probes() {
  bool any = false;
  for (const auto* spec : specs_) any = any || !spec->cgroup_maps.empty();
  discover_periodically_.store(any, std::memory_order_relaxed);
}

// What loading needed and running does not: the kernel BTF the attach
// checks parsed, and the heap libbpf's CO-RE relocation freed, given back to
// the system so an idle agent's RSS is what it uses.
void Agent::shed_load_time_memory() {
  features_.release_btf();
  ::malloc_trim(0);
}

// Sleeps in poll() with no timer while the channel is empty; a wake-up (the
// first record into an empty ring) starts timed drains, one per drain
// interval, which go on while each finds records, so a storm costs a wake-up
// per interval rather than per record, and a lone event is read at once.
void Agent::read_loop() {
  const int drain_ms = static_cast<int>(std::max<uint64_t>(opts_.drain_interval_ms, 1));
  pollfd idle_fds[2] = {{.fd = channel_->wait_fd(), .events = POLLIN, .revents = 0},
                        {.fd = stop_event_.get(), .events = POLLIN, .revents = 0}};
  const uint64_t busy_bytes = std::max<uint64_t>(
      static_cast<uint64_t>(static_cast<double>(channel_->bytes()) * opts_.wakeup_fill / 2), 1);
  bool flowing = false, busy = false;
  while (!stop_reader_.load(std::memory_order_relaxed)) {
    if (busy) {
      // No wait: the last drain was heavy.
    } else if (flowing) {
      // Only stop() may cut the interval short; the channel's own wake-ups
      // are left pending until the timed drain.
      ::poll(&idle_fds[1], 1, drain_ms);
    } else {
      reader_waiting_.store(true, std::memory_order_relaxed);
      int r = ::poll(idle_fds, 2, channel_->idle_wait_ms());
      reader_waiting_.store(false, std::memory_order_relaxed);
      if (r < 0 && errno != EINTR) {
        spdlog::error("waiting on the event channel: {}", std::strerror(errno));
        ::poll(&idle_fds[1], 1, drain_ms);
      }
    }
    reader_beat_ns_.store(core::mono_ns(), std::memory_order_relaxed);
    int n = channel_->drain();
    if (n < 0) {
      spdlog::error("reading the event channel: {}", std::strerror(-n));
      ::poll(&idle_fds[1], 1, drain_ms);
    }
    flowing = reader_->take_drained() > 0;
    // A drain that found more than half the forced wake-up threshold's worth
    // means the ring fills fast: drain again at once rather than sleep (the
    // producers' forced wake-up is not listened for between timed drains).
    busy = reader_->take_drained_bytes() >= busy_bytes;
    reader_->flush();
  }
  // Final drain: whatever the kernel wrote before detach is still delivered.
  channel_->drain();
  reader_->flush();
  reader_->release();
  reader_done_ = true;
  queue_->close();
}

std::expected<void, std::string> Agent::set_cgroup_filter(const std::set<uint64_t>& ids) {
  if (!cgroup_filter_) return std::unexpected(std::string("no cgroup filter in this agent"));
  for (auto it = filter_ids_.begin(); it != filter_ids_.end();) {
    if (ids.count(*it)) {
      ++it;
      continue;
    }
    bpf_map_delete_elem(cgroup_filter_.get(), &*it);
    it = filter_ids_.erase(it);
  }
  const uint8_t one = 1;
  for (uint64_t id : ids) {
    if (filter_ids_.count(id)) continue;
    if (bpf_map_update_elem(cgroup_filter_.get(), &id, &one, BPF_ANY) != 0) {
      return std::unexpected("the workload matches more than " + std::to_string(kMaxFilterCgroups) +
                             " cgroups: " + std::strerror(errno));
    }
    filter_ids_.insert(id);
  }
  return {};
}

std::expected<void, std::string> Agent::load_probes() {
  if (opts_.filter_cgroup_set) {
    cgroup_filter_ = bpf::Fd(bpf_map_create(BPF_MAP_TYPE_HASH, "ksight_cg_filter", sizeof(uint64_t),
                                            sizeof(uint8_t), kMaxFilterCgroups, nullptr));
    if (!cgroup_filter_) {
      return std::unexpected(std::string("creating the cgroup filter map: ") +
                             std::strerror(errno));
    }
  }
  // Every attach check first, then the kernel BTF they parsed goes before
  // any object loads: libbpf parses its own copy for each object's CO-RE
  // relocations, and two copies at once were the agent's peak RSS (35 MiB
  // for `ksight trace exec`, against 18 MiB once running). The answers stay
  // cached, so load_one() asks the kernel nothing twice.
  for (const auto& name : opts_.probes) {
    if (const probes::ProbeSpec* spec = probes::find_probe(name))
      for (const auto& v : spec->variants) features_.attach(v.method, v.target);
  }
  features_.release_btf();
  for (const auto& name : opts_.probes) {
    const probes::ProbeSpec* spec = probes::find_probe(name);
    if (!spec) return std::unexpected("unknown probe '" + name + "'");
    ProbeStatus st;
    auto probe = load_one(*spec, st);
    if (!st.up && opts_.require_all)
      return std::unexpected("probe " + st.name + " is off: " + st.reason);
    if (probe) {
      probes_.push_back(std::move(probe));
      specs_.push_back(spec);
    }
    status_.push_back(std::move(st));
  }
  if (probes_.empty()) return std::unexpected(std::string("no probe could be attached"));
  note_cgroup_map_probes();
  return {};
}

probes::StackSource* Agent::stack_source(std::string_view name) {
  for (size_t i = 0; i < probes_.size(); ++i)
    if (specs_[i]->name == name && probes_[i]) return probes_[i]->stack_source();
  return nullptr;
}

probes::Probe* Agent::probe_for(uint16_t id) const {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i]->id == id) return probes_[i].get();
  return nullptr;
}

void Agent::dispatch_loop() {
  dispatcher_tid_ = current_tid();
  core::EventView view;
  const bool want_events = !sinks_.empty();
  // The identity of the last event's cgroup: runs of events from one cgroup
  // (the common case) look it up once.
  std::shared_ptr<const identity::Resolver::EventLabels> labels;
  for (;;) {
    dispatcher_beat_ns_.store(core::mono_ns(), std::memory_order_relaxed);
    // No timer: the dispatcher sleeps until the reader hands over a batch or
    // closes the queue, and counts as alive while it waits (health()).
    // Except for the resolver's discovery walk: a probe that counts by
    // cgroup in kernel maps sees containers that send no event, so their
    // names are looked for once a second while such a probe runs.
    const bool walk = opts_.resolver && discover_periodically_.load(std::memory_order_relaxed);
    dispatcher_waiting_.store(true, std::memory_order_relaxed);
    EventBatch* b = walk ? queue_->pop_or_closed(std::chrono::seconds(1)) : queue_->pop_or_closed();
    dispatcher_waiting_.store(false, std::memory_order_relaxed);
    dispatcher_beat_ns_.store(core::mono_ns(), std::memory_order_relaxed);
    // New cgroups get their names while they exist (at most once a second).
    if (opts_.resolver) opts_.resolver->discover(core::mono_ns());
    if (!b) {
      if (queue_->closed()) break;
      continue;
    }
    {
      auto w = registry_.write(core::mono_ns());
      for (size_t i = 0; i < b->size(); ++i) {
        auto rec = b->record(i);
        auto id = reinterpret_cast<const ksight_event_header*>(rec.data())->probe_id;
        probes::Probe* p = probe_for(id);
        if (!p && quiet_[id].load(std::memory_order_relaxed)) continue;
        view.internal = false;
        if (!p || !p->decode(rec, w, want_events ? &view : nullptr)) {
          lost_[id][static_cast<size_t>(LossReason::malformed)].fetch_add(
              1, std::memory_order_relaxed);
          continue;
        }
        decoded_[id].store(decoded_[id].load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);  // one writer: this thread
        if (!want_events || view.internal) continue;
        if (opts_.resolver) {
          if (!labels || labels->identity->cgroup_id != view.cgroup_id) {
            labels = opts_.resolver->event_labels(view.cgroup_id);
          }
          view.identity = labels->pairs;
        }
        for (auto* s : sinks_) s->on_event(view);
      }
    }
    for (auto* s : sinks_) s->on_batch_end();
    queue_->release(b);
  }
}

void Agent::register_self_metrics() {
  using core::MetricKind;
  auto received = registry_.add({.name = "ksight_events_received_total",
                                 .help = "Events read from the kernel, by probe.",
                                 .kind = MetricKind::counter,
                                 .label_names = {"probe"},
                                 .expires = false});
  auto lost =
      registry_.add({.name = "ksight_events_lost_total",
                     .help = "Events lost, by probe and reason: buffer_full (kernel could "
                             "not reserve channel space), rate_limit, queue_full (dispatcher "
                             "behind), perf_overwritten, malformed, stack_lost (stack probes: a "
                             "sample counted without its stack), map_full (stack probes: the "
                             "per-stack counts were full).",
                     .kind = MetricKind::counter,
                     .label_names = {"probe", "reason"},
                     .expires = false});
  auto fill = registry_.add({.name = "ksight_event_channel_fill_ratio",
                             .help = "Share of the ring buffer holding unread events (0-1).",
                             .kind = MetricKind::gauge,
                             .label_names = {"kind"},
                             .expires = false});
  auto size = registry_.add({.name = "ksight_event_channel_size_bytes",
                             .help = "Size of the event channel.",
                             .kind = MetricKind::gauge,
                             .label_names = {"kind"},
                             .expires = false});
  auto depth = registry_.add({.name = "ksight_event_queue_batches",
                              .help = "Batches waiting for the dispatcher.",
                              .kind = MetricKind::gauge,
                              .expires = false});
  auto capacity = registry_.add({.name = "ksight_event_queue_capacity_batches",
                                 .help = "Batches the queue holds before dropping.",
                                 .kind = MetricKind::gauge,
                                 .expires = false});
  auto up = registry_.add({.name = "ksight_probe_up",
                           .help = "1 when the probe is attached, 0 when it is off.",
                           .kind = MetricKind::gauge,
                           .label_names = {"probe", "attach"},
                           .expires = false});
  auto runs = registry_.add({.name = "ksight_bpf_program_runs_total",
                             .help = "Times each BPF program ran (kernel BPF stats).",
                             .kind = MetricKind::counter,
                             .label_names = {"probe", "program"},
                             .expires = false});
  auto run_time = registry_.add({.name = "ksight_bpf_program_run_time_seconds_total",
                                 .help = "Time spent in each BPF program (kernel BPF stats).",
                                 .kind = MetricKind::counter,
                                 .label_names = {"probe", "program"},
                                 .expires = false});
  auto cpu = registry_.add({.name = "ksight_agent_cpu_seconds_total",
                            .help = "CPU time used by the agent, user and system.",
                            .kind = MetricKind::counter,
                            .expires = false});
  auto thread_cpu = registry_.add({.name = "ksight_agent_thread_cpu_seconds_total",
                                   .help = "CPU time used by the agent's event threads.",
                                   .kind = MetricKind::counter,
                                   .label_names = {"thread"},
                                   .expires = false});
  auto rss = registry_.add({.name = "ksight_agent_resident_memory_bytes",
                            .help = "Resident memory of the agent.",
                            .kind = MetricKind::gauge,
                            .expires = false});
  auto pruned = registry_.add(
      {.name = "ksight_cgroup_map_entries_pruned_total",
       .help = "Entries of cgroups that no longer exist deleted from per-cgroup kernel maps.",
       .kind = MetricKind::counter,
       .expires = false});
  auto thread_up = registry_.add({.name = "ksight_agent_thread_up",
                                  .help = "1 while the event thread runs (heartbeat within 3s), "
                                          "0 when it died or is stuck: the agent is blind.",
                                  .kind = MetricKind::gauge,
                                  .label_names = {"thread"},
                                  .expires = false});
  auto info = registry_.add({.name = "ksight_build_info",
                             .help = "Always 1; labels say which ksight this is.",
                             .kind = MetricKind::gauge,
                             .label_names = {"version"},
                             .expires = false});

  per_probe_families_.insert(per_probe_families_.end(), {received, lost, up, runs, run_time});
  up_family_ = up;
  refresher_token_ = registry_.add_refresher([=, this](core::Registry::Writer& w) {
    std::string_view kind = bpf::to_string(channel_->kind());
    // Each probe's kernel counters, read once per scrape for both the loss
    // counters and the ledger, so the two agree.
    std::vector<std::vector<uint64_t>> kernel_counts(specs_.size());
    for (size_t i = 0; i < specs_.size(); ++i) {
      std::string_view name = specs_[i]->name;
      uint16_t id = specs_[i]->id;
      w.set(received, {name}, static_cast<double>(received_[id].load(std::memory_order_relaxed)));
      const auto& kdrops = kernel_counts[i] = probes_[i]->kernel_drops();
      for (size_t r = 0; r < static_cast<size_t>(LossReason::count); ++r) {
        auto reason = static_cast<LossReason>(r);
        if (reason == LossReason::perf_overwritten) continue;
        double v = static_cast<double>(lost_[id][r].load(std::memory_order_relaxed));
        if (reason == LossReason::buffer_full)
          v += static_cast<double>(kdrops[KSIGHT_DROP_BUFFER_FULL]);
        if (reason == LossReason::rate_limit)
          v += static_cast<double>(kdrops[KSIGHT_DROP_RATE_LIMIT]);
        if (reason == LossReason::stack_lost)
          v += static_cast<double>(kdrops[KSIGHT_DROP_STACK_LOST]);
        if (reason == LossReason::map_full) v += static_cast<double>(kdrops[KSIGHT_DROP_MAP_FULL]);
        w.set(lost, {name, to_string(reason)}, v);
      }
      probes_[i]->refresh(w);
      for (const auto& ps : probes_[i]->program_stats()) {
        std::string_view prog = ps.program;
        w.set(runs, {name, prog}, static_cast<double>(ps.run_count));
        w.set(run_time, {name, prog}, static_cast<double>(ps.run_time_ns) / 1e9);
      }
    }
    // After the refresh has read their last values: drop dead cgroups from
    // the kernel maps, so new ones get entries of their own. Their series
    // keep the last value until they expire.
    if (opts_.cgroup_prune_interval_ns && w.now() >= next_prune_ns_) {
      next_prune_ns_ = w.now() + opts_.cgroup_prune_interval_ns;
      CgroupExistence live;
      auto exists = [&live](uint64_t id) { return live.exists(id); };
      for (auto& p : probes_) cgroups_pruned_ += p->prune_cgroups(exists);
      if (opts_.resolver) opts_.resolver->sweep(w.now(), exists);
    }
    w.set(pruned, {}, static_cast<double>(cgroups_pruned_));
    // Losses no probe can be blamed for: perf overwrites, unreadable records.
    w.set(lost, {"unknown", "perf_overwritten"},
          static_cast<double>(perf_overwritten_.load(std::memory_order_relaxed)));
    w.set(lost, {"unknown", "malformed"},
          static_cast<double>(lost_[0][static_cast<size_t>(LossReason::malformed)].load()));
    for (const auto& st : status_) w.set(up, {st.name, st.up ? st.method : "none"}, st.up ? 1 : 0);
    refresh_fidelity_metrics(w, kernel_counts);
    double f = channel_->fill_ratio();
    w.set(fill, {kind}, f < 0 ? 0 : f);
    w.set(size, {kind}, static_cast<double>(channel_->bytes()));
    w.set(depth, {}, static_cast<double>(queue_->depth()));
    w.set(capacity, {}, static_cast<double>(queue_->capacity()));
    SelfStats self = read_self_stats();
    w.set(cpu, {}, self.cpu_seconds);
    w.set(rss, {}, static_cast<double>(self.rss_bytes));
    if (int tid = reader_tid_.load()) w.set(thread_cpu, {"reader"}, thread_cpu_seconds(tid));
    if (int tid = dispatcher_tid_.load())
      w.set(thread_cpu, {"dispatcher"}, thread_cpu_seconds(tid));
    w.set(info, {KSIGHT_VERSION}, 1);
    AgentHealth h = health(w.now());
    w.set(thread_up, {"reader"}, h.detail.find("reader") == std::string::npos ? 1 : 0);
    w.set(thread_up, {"dispatcher"}, h.detail.find("dispatcher") == std::string::npos ? 1 : 0);
  });
  refresher_added_ = true;
}

AgentHealth Agent::health(uint64_t now_mono_ns) const {
  AgentHealth h;
  auto check = [&](const char* name, const std::atomic<uint64_t>& beat,
                   const std::atomic<bool>& waiting) {
    // Blocked in poll() or on the queue with nothing to do is alive: it beats
    // again as soon as there is work.
    if (waiting.load(std::memory_order_relaxed)) return;
    uint64_t last = std::max(beat.load(std::memory_order_relaxed), started_ns_);
    if (now_mono_ns > last && now_mono_ns - last > kStallNs) {
      h.ok = false;
      h.detail += std::string(name) + " thread has not run for " +
                  std::to_string((now_mono_ns - last) / 1'000'000'000ull) + "s\n";
    }
  };
  check("reader", reader_beat_ns_, reader_waiting_);
  check("dispatcher", dispatcher_beat_ns_, dispatcher_waiting_);
  return h;
}

uint64_t Agent::events_received() const {
  uint64_t n = 0;
  for (const auto& r : received_) n += r.load(std::memory_order_relaxed);
  return n;
}

uint64_t Agent::events_lost() const {
  uint64_t n = 0;
  for (auto v : events_lost_by_reason()) n += v;
  return n;
}

std::array<uint64_t, static_cast<size_t>(LossReason::count)> Agent::events_lost_by_reason() const {
  std::array<uint64_t, static_cast<size_t>(LossReason::count)> out{};
  out[static_cast<size_t>(LossReason::perf_overwritten)] = perf_overwritten_.load();
  for (const auto& per_probe : lost_)
    for (size_t r = 0; r < out.size(); ++r) out[r] += per_probe[r].load(std::memory_order_relaxed);
  for (const auto& p : probes_) {
    auto kdrops = p->kernel_drops();
    out[static_cast<size_t>(LossReason::buffer_full)] += kdrops[KSIGHT_DROP_BUFFER_FULL];
    out[static_cast<size_t>(LossReason::rate_limit)] += kdrops[KSIGHT_DROP_RATE_LIMIT];
    out[static_cast<size_t>(LossReason::stack_lost)] += kdrops[KSIGHT_DROP_STACK_LOST];
    out[static_cast<size_t>(LossReason::map_full)] += kdrops[KSIGHT_DROP_MAP_FULL];
  }
  return out;
}

void Agent::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lk(control_mu_);
    stop_control_ = true;
  }
  control_cv_.notify_all();
  if (control_thread_.joinable()) control_thread_.join();
  stop_reader_ = true;
  const uint64_t one = 1;
  if (stop_event_ && ::write(stop_event_.get(), &one, sizeof one) < 0)
    spdlog::warn("waking the reader to stop: {}", std::strerror(errno));
  if (reader_thread_.joinable()) reader_thread_.join();
  reader_done_ = true;
  if (queue_) queue_->close();  // null when start() failed before making it
  if (dispatcher_thread_.joinable()) dispatcher_thread_.join();
}

Agent::~Agent() {
  stop();
  if (refresher_added_) registry_.remove_refresher(refresher_token_);
  // probes_ (links, then objects) and channel_ go with the members.
}

}  // namespace ksight::runtime
