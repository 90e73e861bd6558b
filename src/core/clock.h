#pragma once
// Clocks. BPF timestamps are CLOCK_MONOTONIC (bpf_ktime_get_ns); exporters
// want Unix-epoch nanoseconds. The offset between the two is taken once at
// start-up, which is what every exporter needs and costs nothing per event.
#include <cstdint>
#include <ctime>

namespace ksight::core {

inline uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
inline uint64_t mono_ns() {
  return clock_ns(CLOCK_MONOTONIC);
}
inline uint64_t unix_ns() {
  return clock_ns(CLOCK_REALTIME);
}

// Converts a CLOCK_MONOTONIC reading to Unix-epoch nanoseconds.
inline uint64_t mono_to_unix_ns(uint64_t mono) {
  static const int64_t offset = static_cast<int64_t>(unix_ns()) - static_cast<int64_t>(mono_ns());
  return static_cast<uint64_t>(static_cast<int64_t>(mono) + offset);
}

}  // namespace ksight::core
