#pragma once
// The agent's own CPU time and memory, from /proc/self.
#include <cstdint>

namespace ksight::runtime {

struct SelfStats {
  double cpu_seconds = 0;  // user + system, all threads
  uint64_t rss_bytes = 0;
  uint64_t threads = 0;
};

SelfStats read_self_stats();
// CPU seconds used by one thread of this process (by tid).
double thread_cpu_seconds(int tid);

}  // namespace ksight::runtime
