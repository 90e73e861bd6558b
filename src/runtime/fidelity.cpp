#include "runtime/fidelity.h"

#include <algorithm>
#include <cmath>

namespace ksight::runtime {

uint32_t AdaptiveSampler::period_for(double ratio) {
  if (!(ratio > 0)) return 65535;
  // A record's header holds the period in a u16.
  return static_cast<uint32_t>(std::clamp(std::lround(1.0 / ratio), 1L, 65535L));
}

AdaptiveSampler::AdaptiveSampler(const config::Config::Sampling& cfg)
    : cfg_(cfg), ratio_(cfg.baseline), period_(period_for(cfg.baseline)) {}

uint32_t AdaptiveSampler::update(uint64_t now_ns, uint64_t dt_ns, uint64_t records,
                                 uint64_t errors) {
  const double seconds = static_cast<double>(std::max<uint64_t>(dt_ns, 1)) / 1e9;
  const double error_rate = static_cast<double>(errors) / seconds;
  const double rate = static_cast<double>(records) / seconds;
  const bool trigger =
      error_rate >= cfg_.error_threshold || (cfg_.qps_threshold > 0 && rate >= cfg_.qps_threshold);
  if (trigger) {
    // Up at once: the records of a burst are the ones worth having.
    ratio_ = std::max(ratio_, cfg_.error_boost);
    boosted_ = true;
    last_trigger_ns_ = now_ns;
  } else if (boosted_ && now_ns - last_trigger_ns_ >= cfg_.calm_ns) {
    // Down by halves, one step a tick, once calm for calm_ns: a burst that
    // pauses for a moment does not flap the ratio.
    ratio_ = std::max(cfg_.baseline, ratio_ / 2);
    if (ratio_ <= cfg_.baseline) boosted_ = false;
  }
  ratio_ = std::clamp(ratio_, cfg_.min, cfg_.max);
  period_ = period_for(ratio_);
  return period_;
}

OverheadGovernor::OverheadGovernor(const config::Config::Budget& budget)
    : budget_(budget), hold_ns_(budget.restore_after_ns) {}

OverheadGovernor::Verdict OverheadGovernor::update(uint64_t now_ns, double bpf_cpu,
                                                   double agent_cpu, unsigned level) {
  over_ = false;
  over_what_ = {};
  if (budget_.bpf_cpu > 0 && bpf_cpu > budget_.bpf_cpu) {
    over_ = true;
    over_what_ = "bpf_cpu";
  } else if (budget_.agent_cpu > 0 && agent_cpu > budget_.agent_cpu) {
    over_ = true;
    over_what_ = "agent_cpu";
  }
  if (over_) {
    under_since_ns_ = 0;
    // Shedding again soon after a restore: the load is still there, so the
    // next restore waits longer.
    if (last_restore_ns_ && now_ns - last_restore_ns_ < hold_ns_)
      hold_ns_ = std::min(hold_ns_ * 2, budget_.restore_after_ns * 8);
    last_restore_ns_ = 0;
    return Verdict::shed;
  }
  if (level == 0) {
    hold_ns_ = budget_.restore_after_ns;
    return Verdict::hold;
  }
  // Under budget by a margin (80% of it), so that undoing a step that cost
  // exactly the budget does not shed it again at once.
  const bool well_under = (budget_.bpf_cpu == 0 || bpf_cpu < 0.8 * budget_.bpf_cpu) &&
                          (budget_.agent_cpu == 0 || agent_cpu < 0.8 * budget_.agent_cpu);
  if (!well_under) {
    under_since_ns_ = 0;
    return Verdict::hold;
  }
  if (under_since_ns_ == 0) under_since_ns_ = now_ns;
  if (now_ns - under_since_ns_ < hold_ns_) return Verdict::hold;
  under_since_ns_ = now_ns;  // the next step waits as long again
  last_restore_ns_ = now_ns;
  return Verdict::restore;
}

}  // namespace ksight::runtime
