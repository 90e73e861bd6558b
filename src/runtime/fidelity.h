#pragma once
// What the agent keeps of what happens, decided at the source
// (docs/fidelity.md):
//   - AdaptiveSampler: a probe's keep ratio, from its generated and error
//     counts each tick: the baseline in quiet times, the boost at once when
//     errors (or the rate) cross a threshold, back down by halves once it
//     has been calm for a while.
//   - OverheadGovernor: whether the agent is over its CPU budget (BPF run
//     time, its own CPU), and so should shed one more step or may restore
//     one.
// Both are plain state machines fed with numbers, so they are unit-tested
// without a kernel; the agent (runtime/agent_control.cpp) reads the kernel
// and applies what they decide.
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace ksight::runtime {

class AdaptiveSampler {
 public:
  explicit AdaptiveSampler(const config::Config::Sampling& cfg);
  // One tick: `records` generated in the kernel during the last `dt_ns`, of
  // which `errors` were errors. Returns the period for the next tick.
  uint32_t update(uint64_t now_ns, uint64_t dt_ns, uint64_t records, uint64_t errors);
  // Records are kept with probability 1/period (the ratio, quantized).
  uint32_t period() const { return period_; }
  double ratio() const { return 1.0 / period_; }
  bool boosted() const { return boosted_; }
  // The period at the configured minimum ratio (the governor's first step).
  uint32_t min_period() const { return period_for(cfg_.min); }
  bool keep_errors() const { return cfg_.keep_errors; }
  static uint32_t period_for(double ratio);

 private:
  config::Config::Sampling cfg_;
  double ratio_;
  uint32_t period_;
  bool boosted_ = false;
  uint64_t last_trigger_ns_ = 0;
};

class OverheadGovernor {
 public:
  // What to do after a tick.
  enum class Verdict : uint8_t { hold, shed, restore };
  explicit OverheadGovernor(const config::Config::Budget& budget);
  bool enabled() const { return budget_.bpf_cpu > 0 || budget_.agent_cpu > 0; }
  // One tick: the shares of the node's CPUs BPF programs and the agent used
  // over the last interval; `level` is how many steps are shed now.
  Verdict update(uint64_t now_ns, double bpf_cpu, double agent_cpu, unsigned level);
  // Whether the last update found the agent over its budget, and on what.
  bool over() const { return over_; }
  std::string_view over_what() const { return over_what_; }
  // How long it must stay under budget before the next step is undone: it
  // doubles when a restore is followed by shedding again within it (a load
  // that comes back), up to 8 times the configured time.
  uint64_t hold_ns() const { return hold_ns_; }

 private:
  config::Config::Budget budget_;
  bool over_ = false;
  std::string_view over_what_;
  uint64_t under_since_ns_ = 0;
  uint64_t last_restore_ns_ = 0;
  uint64_t hold_ns_;
};

}  // namespace ksight::runtime
