#pragma once
// The in-kernel token bucket's constants. The kernel keeps one bucket per CPU
// (no atomics on the event path), so each CPU gets an equal share of the rate
// and of the burst: shares of the CPUs online at load time. Dividing by the
// possible CPUs (often 64 or more on a VM with 2 online) left the machine a
// small fraction of the configured rate.
//
// Hotplug: the shares are fixed at load. A CPU brought online later gets a
// bucket of its own with the same share, so the machine-wide rate can exceed
// the limit by that share per added CPU; a CPU taken offline takes its share
// with it. Restarting ksight recomputes them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ksight::probes {

// How many CPUs a kernel CPU list names ("0-3,5,7-8" -> 7); nullopt when the
// text is not one.
std::optional<size_t> count_cpu_list(std::string_view list);

// CPUs online now (/sys/devices/system/cpu/online), at least 1.
size_t online_cpus();

struct TokenBucket {
  uint64_t cost_ns = 0;   // credit one record costs a CPU
  uint64_t burst_ns = 0;  // the most credit a CPU holds
};
// {0, 0} without a limit (rate 0). `burst` 0 means one second's worth.
TokenBucket per_cpu_token_bucket(uint64_t rate, uint64_t burst, size_t cpus);

}  // namespace ksight::probes
