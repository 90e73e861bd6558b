#pragma once
// Helpers the probes share to turn kernel bytes into labels and fields.
#include <cstddef>
#include <cstring>
#include <span>
#include <string_view>

#include "core/clock.h"
#include "core/event.h"
#include "ksight/abi/common.h"

namespace ksight::probes {

// A fixed-size kernel char array as a string_view, up to the first NUL.
template <size_t N>
std::string_view c_string(const char (&arr)[N]) {
  return std::string_view(arr, strnlen(arr, N));
}

// Reinterprets a record as T when it is big enough; the channel guarantees
// 8-byte alignment of every record.
template <class T>
const T* record_as(std::span<const std::byte> rec) {
  if (rec.size() < sizeof(T)) return nullptr;
  return reinterpret_cast<const T*>(rec.data());
}

// How many records a record stands for: its sample period (1 unsampled).
// For the metrics a probe counts from its records (exec, exit).
inline uint32_t sample_weight(const ksight_event_header& h) {
  return h.sample_period ? h.sample_period : 1;
}

inline void fill_header(core::EventView& ev, std::string_view probe, const ksight_event_header& h) {
  ev.clear();
  ev.probe = probe;
  ev.time_unix_ns = core::mono_to_unix_ns(h.ktime_ns);
  ev.pid = h.pid;
  ev.tid = h.tid;
  ev.cgroup_id = h.cgroup_id;
  ev.comm = c_string(h.comm);
  ev.sample_period = sample_weight(h);
}

// "SIGKILL" for 9; "SIG42" style for numbers without a name. Linux numbers,
// identical on x86_64 and arm64.
std::string_view signal_name(int sig);

// "ENOENT" for 2; "E<n>" style for numbers glibc has no name for.
std::string_view errno_name(int err);

}  // namespace ksight::probes
