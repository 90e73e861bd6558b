// The agent's fidelity controls and its loss ledger (docs/fidelity.md):
//   - the control thread: every budget.interval it reads each probe's
//     kernel ledger, lets the probe's AdaptiveSampler choose its period, lets
//     the OverheadGovernor say whether to shed or restore a step, and writes
//     what changed into the probes' ksight_emit_control maps;
//   - the metrics: ksight_sampling_ratio, ksight_fidelity, the governor's
//     level and measurements, ksight_ledger_records_total,
//     ksight_sink_records_total and ksight_completeness_ratio.
// The tick and the refresher both run under the registry's lock, like
// set_probes(), so probes_ and control_ never change under them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "core/clock.h"
#include "ksight/abi/common.h"
#include "probes/rate_limit.h"
#include "runtime/agent.h"
#include "runtime/self_stats.h"

namespace ksight::runtime {

namespace {

// The window ksight_completeness_ratio looks back over, and how often a
// point is kept in it.
constexpr uint64_t kCompletenessWindowNs = 300'000'000'000ull;
constexpr uint64_t kCompletenessStepNs = 10'000'000'000ull;
// Records kept per probe at the governor's first step when the probe has no
// sampling settings of its own.
constexpr double kDefaultMinRatio = 0.01;

std::string_view probe_name(uint16_t id) {
  for (const auto& spec : probes::probe_table())
    if (spec.id == id) return spec.name;
  return "unknown";
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", share * 100);
  return buf;
}

}  // namespace

probes::EmitControl Agent::wanted_emit(uint16_t id) const {
  const ProbeControl& c = control_[id];
  probes::EmitControl e;
  if (c.sampler) {
    e.period = c.sampler->period();
    e.keep_errors = c.sampler->keep_errors();
  }
  if (governor_level_ >= 1) {
    const uint32_t floor =
        c.sampler ? c.sampler->min_period() : AdaptiveSampler::period_for(kDefaultMinRatio);
    e.period = std::max(e.period, floor);
  }
  e.counts_only = governor_level_ >= 2;
  return e;
}

void Agent::control_loop() {
  std::unique_lock lk(control_mu_);
  const auto interval = std::chrono::nanoseconds(opts_.budget.interval_ns);
  while (!control_cv_.wait_for(lk, interval, [this] { return stop_control_; })) {
    lk.unlock();
    {
      auto w = registry_.write(core::mono_ns());
      control_tick(w);
    }
    lk.lock();
  }
}

void Agent::control_tick(core::Registry::Writer& w) {
  const uint64_t now = w.now();
  const uint64_t dt = last_tick_ns_ ? now - last_tick_ns_ : 0;
  last_tick_ns_ = now;
  std::vector<double> probe_bpf_ns(probes_.size(), 0);
  double bpf_ns = 0;
  for (size_t i = 0; i < probes_.size(); ++i) {
    const probes::ProbeSpec& spec = *specs_[i];
    ProbeControl& c = control_[spec.id];
    const bool fresh = c.owner != probes_[i].get();
    if (fresh) {
      // A probe loaded since the last tick (at start, or by a reload).
      c = ProbeControl{.owner = probes_[i].get()};
      if (auto it = opts_.sampling.find(std::string(spec.name)); it != opts_.sampling.end())
        c.sampler.emplace(it->second);
    }
    uint64_t run_ns = 0;
    for (const auto& ps : probes_[i]->program_stats()) run_ns += ps.run_time_ns;
    if (!fresh && run_ns >= c.last_run_ns)
      probe_bpf_ns[i] = static_cast<double>(run_ns - c.last_run_ns);
    c.last_run_ns = run_ns;
    bpf_ns += probe_bpf_ns[i];
    if (!spec.emits_events()) continue;
    auto k = probes_[i]->kernel_drops();
    const uint64_t generated = k[KSIGHT_COUNT_GENERATED], errors = k[KSIGHT_COUNT_ERRORS];
    if (c.sampler && !fresh && dt)
      c.sampler->update(now, dt, generated - std::min(generated, c.last_generated),
                        errors - std::min(errors, c.last_errors));
    c.last_generated = generated;
    c.last_errors = errors;
  }

  // The governor measures over whole intervals.
  if (dt && governor_.enabled()) {
    const double cpus = static_cast<double>(std::max<size_t>(probes::online_cpus(), 1));
    const double agent_s = read_self_stats().cpu_seconds;
    bpf_cpu_share_ = bpf_ns / (static_cast<double>(dt) * cpus);
    agent_cpu_share_ = (agent_s - last_agent_cpu_s_) * 1e9 / (static_cast<double>(dt) * cpus);
    last_agent_cpu_s_ = agent_s;
    auto verdict = governor_.update(now, bpf_cpu_share_, agent_cpu_share_, governor_level_);
    if (verdict != OverheadGovernor::Verdict::hold) governor_step(w, verdict, probe_bpf_ns);
  } else if (governor_.enabled()) {
    last_agent_cpu_s_ = read_self_stats().cpu_seconds;
  }

  for (size_t i = 0; i < probes_.size(); ++i) {
    const probes::ProbeSpec& spec = *specs_[i];
    if (!spec.emits_events()) continue;
    ProbeControl& c = control_[spec.id];
    const probes::EmitControl want = wanted_emit(spec.id);
    if (want == c.applied) continue;
    if (probes_[i]->set_emit_control(want)) {
      if (want.period != c.applied.period)
        spdlog::debug("probe {}: sampling ratio {} (1 in {})", spec.name, 1.0 / want.period,
                      want.period);
      c.applied = want;
    }
  }
}

void Agent::governor_step(core::Registry::Writer& w, OverheadGovernor::Verdict v,
                          const std::vector<double>& probe_bpf_ns) {
  (void)w;
  const bool any_events =
      std::any_of(specs_.begin(), specs_.end(), [](const auto* s) { return s->emits_events(); });
  const std::string measured =
      "BPF " + percent(bpf_cpu_share_) + " of the CPUs (budget " + percent(opts_.budget.bpf_cpu) +
      "), agent " + percent(agent_cpu_share_) + " (budget " + percent(opts_.budget.agent_cpu) + ")";
  if (v == OverheadGovernor::Verdict::shed) {
    if (governor_level_ == 0 && any_events) {
      governor_level_ = 1;
      spdlog::warn(
          "governor: over budget ({}): step 1, event records sampled at each probe's "
          "minimum ratio",
          measured);
      return;
    }
    if (governor_level_ <= 1 && any_events) {
      governor_level_ = 2;
      spdlog::warn(
          "governor: over budget ({}): step 2, no event records leave the kernel, "
          "only its counts",
          measured);
      return;
    }
    // Step 3 and on: the probe that cost the most BPF time in the last
    // interval, unless protected.
    size_t costliest = probes_.size();
    for (size_t i = 0; i < probes_.size(); ++i) {
      const ProbeControl& c = control_[specs_[i]->id];
      const auto& protect = opts_.budget.protect;
      if (c.detached || std::find(protect.begin(), protect.end(), specs_[i]->name) != protect.end())
        continue;
      if (probe_bpf_ns[i] <= 0) continue;
      if (costliest == probes_.size() || probe_bpf_ns[i] > probe_bpf_ns[costliest]) costliest = i;
    }
    if (costliest == probes_.size()) {
      if (!said_nothing_left_)
        spdlog::warn("governor: over budget ({}) with nothing left to shed", measured);
      said_nothing_left_ = true;
      return;
    }
    const probes::ProbeSpec& spec = *specs_[costliest];
    (void)probes_[costliest]->set_attached(false);
    control_[spec.id].detached = true;
    governor_detached_.push_back(spec.id);
    governor_level_ = 2 + static_cast<unsigned>(governor_detached_.size());
    spdlog::warn(
        "governor: over budget ({}): step {}, probe {} detached (its BPF programs "
        "took {} of the CPUs)",
        measured, governor_level_, spec.name,
        percent(probe_bpf_ns[costliest] /
                (static_cast<double>(opts_.budget.interval_ns) *
                 static_cast<double>(std::max<size_t>(probes::online_cpus(), 1)))));
    return;
  }
  // Restore: the last step first.
  said_nothing_left_ = false;
  const unsigned from = governor_level_;
  if (!governor_detached_.empty()) {
    const uint16_t id = governor_detached_.back();
    governor_detached_.pop_back();
    ProbeControl& c = control_[id];
    c.detached = false;
    probes::Probe* p = probe_for(id);
    if (p) {
      if (auto r = p->set_attached(true); !r) {
        c.attach_failed = true;
        spdlog::error(
            "governor: under budget, but probe {} cannot be attached again ({}); it "
            "stays off until a restart",
            probe_name(id), r.error());
      } else {
        spdlog::info("governor: under budget ({}): step {} undone, probe {} attached again",
                     measured, from, probe_name(id));
      }
    }
    governor_level_ = 2 + static_cast<unsigned>(governor_detached_.size());
    if (governor_detached_.empty() && !any_events) governor_level_ = 0;
    return;
  }
  governor_level_ = any_events && governor_level_ > 1 ? governor_level_ - 1 : 0;
  spdlog::info("governor: under budget ({}): step {} undone{}", measured, from,
               governor_level_ == 0 ? ", every record kept again" : "");
}

void Agent::register_fidelity_metrics() {
  using core::MetricKind;
  sampling_family_ =
      registry_.add({.name = "ksight_sampling_ratio",
                     .help = "Share of an event probe's records kept in the kernel by sampling "
                             "(1/period; each record carries its period).",
                     .kind = MetricKind::gauge,
                     .label_names = {"probe"},
                     .expires = false});
  fidelity_family_ = registry_.add(
      {.name = "ksight_fidelity",
       .help = "Share of a probe's records the agent lets out of the kernel by choice: 1 all, the "
               "sampling ratio when sampled, 0 with counts only or detached by the governor.",
       .kind = MetricKind::gauge,
       .label_names = {"probe"},
       .expires = false});
  level_family_ = registry_.add(
      {.name = "ksight_governor_level",
       .help = "Steps the overhead governor has shed: 0 none, 1 sampled at the minimum ratio, 2 "
               "counts only, 2+n n probes detached.",
       .kind = MetricKind::gauge,
       .expires = false});
  cpu_share_family_ = registry_.add(
      {.name = "ksight_governor_cpu_ratio",
       .help = "CPU the governor measured over its last interval, as a share of all CPUs: bpf "
               "(BPF program run time) and agent (the agent's own threads).",
       .kind = MetricKind::gauge,
       .label_names = {"resource"},
       .expires = false});
  budget_family_ = registry_.add({.name = "ksight_governor_budget_ratio",
                                  .help = "The CPU budget (budget.bpf_cpu, budget.agent_cpu), "
                                          "as a share of all CPUs; 0: none.",
                                  .kind = MetricKind::gauge,
                                  .label_names = {"resource"},
                                  .expires = false});
  ledger_family_ = registry_.add(
      {.name = "ksight_ledger_records_total",
       .help = "Event records of a probe at each hop: generated (in the kernel, past its "
               "filters), sampled_out, shed, rate_limited, ring_full, received, queue_full, "
               "malformed, decoded. generated = decoded + the losses + those in flight.",
       .kind = MetricKind::counter,
       .label_names = {"probe", "hop"},
       .expires = false});
  sink_family_ = registry_.add(
      {.name = "ksight_sink_records_total",
       .help = "What became of a probe's decoded events in each sink: delivered (prometheus: "
               "reflected in the metrics), dropped (a full buffer or queue), failed (a write or "
               "the collector failed).",
       .kind = MetricKind::counter,
       .label_names = {"probe", "sink", "outcome"},
       .expires = false});
  sink_pending_family_ = registry_.add(
      {.name = "ksight_sink_pending_records",
       .help = "A probe's decoded events a sink holds now (a batch not yet written, an OTLP "
               "document not yet sent or being retried).",
       .kind = MetricKind::gauge,
       .label_names = {"probe", "sink"},
       .expires = false});
  completeness_family_ = registry_.add(
      {.name = "ksight_completeness_ratio",
       .help = "Share of a probe's generated records a sink delivered over the last 5 minutes "
               "(sampling included: re-weigh by sample_period); 1 when none were generated.",
       .kind = MetricKind::gauge,
       .label_names = {"probe", "sink"},
       .expires = false});
  per_probe_families_.insert(per_probe_families_.end(),
                             {sampling_family_, fidelity_family_, ledger_family_, sink_family_,
                              sink_pending_family_, completeness_family_});
  governor_ = OverheadGovernor(opts_.budget);
}

void Agent::refresh_fidelity_metrics(core::Registry::Writer& w,
                                     const std::vector<std::vector<uint64_t>>& kernel_counts) {
  w.set(level_family_, {}, governor_level_);
  w.set(cpu_share_family_, {"bpf"}, bpf_cpu_share_);
  w.set(cpu_share_family_, {"agent"}, agent_cpu_share_);
  w.set(budget_family_, {"bpf"}, opts_.budget.bpf_cpu);
  w.set(budget_family_, {"agent"}, opts_.budget.agent_cpu);
  std::vector<std::pair<std::string_view, core::SinkLedger>> sinks;
  for (const auto* s : sinks_)
    if (!s->ledger_name().empty()) sinks.emplace_back(s->ledger_name(), s->ledger());
  const uint64_t now = w.now();
  for (size_t i = 0; i < probes_.size(); ++i) {
    const probes::ProbeSpec& spec = *specs_[i];
    const std::string_view name = spec.name;
    const ProbeControl& c = control_[spec.id];
    const bool off = c.detached || c.attach_failed;
    if (!spec.emits_events()) {
      w.set(fidelity_family_, {name}, off ? 0 : 1);
      continue;
    }
    const probes::EmitControl e = c.owner == probes_[i].get() ? c.applied : probes::EmitControl{};
    const double ratio = 1.0 / std::max<uint32_t>(e.period, 1);
    w.set(sampling_family_, {name}, ratio);
    w.set(fidelity_family_, {name}, off || e.counts_only ? 0 : ratio);

    const auto& k = kernel_counts[i];
    const auto id = spec.id;
    auto user = [&](LossReason r) {
      return static_cast<double>(lost_[id][static_cast<size_t>(r)].load(std::memory_order_relaxed));
    };
    const double generated = static_cast<double>(k[KSIGHT_COUNT_GENERATED]);
    const double decoded = static_cast<double>(decoded_[id].load(std::memory_order_relaxed));
    w.set(ledger_family_, {name, "generated"}, generated);
    w.set(ledger_family_, {name, "sampled_out"}, static_cast<double>(k[KSIGHT_DROP_SAMPLED]));
    w.set(ledger_family_, {name, "shed"}, static_cast<double>(k[KSIGHT_DROP_SHED]));
    w.set(ledger_family_, {name, "rate_limited"}, static_cast<double>(k[KSIGHT_DROP_RATE_LIMIT]));
    w.set(ledger_family_, {name, "ring_full"}, static_cast<double>(k[KSIGHT_DROP_BUFFER_FULL]));
    w.set(ledger_family_, {name, "received"},
          static_cast<double>(received_[id].load(std::memory_order_relaxed)));
    w.set(ledger_family_, {name, "queue_full"}, user(LossReason::queue_full));
    w.set(ledger_family_, {name, "malformed"}, user(LossReason::malformed));
    w.set(ledger_family_, {name, "decoded"}, decoded);

    // Prometheus is pulled: a decoded event is reflected in the metrics.
    std::vector<std::pair<std::string_view, core::SinkOutcomes>> outcomes = {
        {"prometheus", {.delivered = static_cast<uint64_t>(decoded)}}};
    for (const auto& [sink, ledger] : sinks) {
      auto it = ledger.find(name);
      outcomes.emplace_back(sink, it == ledger.end() ? core::SinkOutcomes{} : it->second);
    }
    for (const auto& [sink, o] : outcomes) {
      const double delivered = static_cast<double>(o.delivered);
      w.set(sink_family_, {name, sink, "delivered"}, delivered);
      w.set(sink_family_, {name, sink, "dropped"}, static_cast<double>(o.dropped));
      w.set(sink_family_, {name, sink, "failed"}, static_cast<double>(o.failed));
      w.set(sink_pending_family_, {name, sink}, static_cast<double>(o.pending));
      // The window: a point every 10 s, the oldest within 5 minutes as base.
      auto& points = completeness_[{id, std::string(sink)}];
      if (points.empty()) points.push_back({static_cast<double>(now), 0, 0});  // since load
      if (now - static_cast<uint64_t>(points.back()[0]) >= kCompletenessStepNs)
        points.push_back({static_cast<double>(now), generated, delivered});
      while (points.size() > 1 &&
             now - static_cast<uint64_t>(points[1][0]) >= kCompletenessWindowNs)
        points.pop_front();
      const double dg = generated - points.front()[1];
      const double dd = delivered - points.front()[2];
      const double ratio_delivered = dg > 0 ? std::clamp(dd / dg, 0.0, 1.0) : 1.0;
      w.set(completeness_family_, {name, sink}, ratio_delivered);
    }
  }
}

}  // namespace ksight::runtime
