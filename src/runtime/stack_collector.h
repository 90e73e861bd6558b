#pragma once
// Turns what a stack probe counts in the kernel into a profile: drains its
// maps every second (so they never fill however long the profile), adds the
// drains up, remembers each newly seen process's mappings while it still
// exists, and at the end symbolizes every stack. `ksight trace profile|offcpu`
// and the daemon's /debug/pprof/profile both take their profiles through it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "probes/probe.h"
#include "profile/stack_accumulator.h"
#include "profile/stack_profile.h"
#include "profile/symbolizer.h"

namespace ksight::identity {
class Resolver;
}

namespace ksight::runtime {

class StackCollector {
 public:
  struct Options {
    uint64_t drain_interval_ns = 1'000'000'000;
    // Stacks to keep (after the kernel's filters): the daemon's ?pid= and ?pod=.
    std::function<bool(const profile::RawStack&)> keep;
    // The pod or unit of a cgroup id, for Sample::workload; empty: none.
    std::function<std::string(uint64_t cgroup_id)> workload_of;
    size_t max_stacks = 200'000;
    size_t max_pending_processes = 4096;  // noticed, not yet remembered
  };

  // Options::workload_of from the agent's resolver: "namespace/pod" for
  // pods, the systemd unit otherwise.
  static std::function<std::string(uint64_t)> workload_names(identity::Resolver& resolver);

  // `source` and `symbolizer` outlive the collector. Sets the source's
  // new-process callback, and clears it again on destruction.
  StackCollector(probes::StackSource& source, profile::Symbolizer& symbolizer, Options options);
  ~StackCollector();
  StackCollector(const StackCollector&) = delete;
  StackCollector& operator=(const StackCollector&) = delete;

  // Remembers the processes noticed since the last call and, once per drain
  // interval, drains the kernel. Call often (every 20 to 200 ms).
  void poll(uint64_t now_mono_ns);
  // Drains a last time and symbolizes what was counted since the collector
  // was made (or since the last finish()).
  profile::Profile finish(int64_t start_unix_ns, uint64_t duration_ns);
  // Empties the kernel's maps and forgets what was drained: a profile starts now.
  void reset();

  struct Stats {
    uint64_t drains = 0;
    uint64_t drain_errors = 0;
    uint64_t processes_noticed = 0;
    uint64_t processes_not_remembered = 0;  // pending queue full
    uint64_t dropped_samples = 0;           // distinct stacks past max_stacks
  };
  Stats stats() const;
  std::string last_error() const;

 private:
  void drain();
  void remember_noticed();

  probes::StackSource& source_;
  profile::Symbolizer& symbolizer_;
  Options opts_;
  profile::StackAccumulator stacks_;
  uint64_t next_drain_ns_ = 0;

  mutable std::mutex noticed_mu_;  // the dispatcher thread adds, poll() takes
  std::vector<uint32_t> noticed_;
  Stats stats_;
  std::string last_error_;
};

}  // namespace ksight::runtime
