#pragma once
// The one channel every probe writes discrete events into: a BPF ring buffer,
// or a perf buffer on kernels without one (before 5.8). It owns the map, which
// each probe object adopts with bpf_map__reuse_fd, and the libbpf consumer.
//
// Neither path wakes the reader per event. A ring buffer record wakes the
// reader only when the ring was empty before it (the kernel's adaptive
// notification: the consumer had caught up) or past a fill threshold, so the
// reader can sleep in epoll with no timer while nothing happens and, once
// woken, drain on a timer while records flow (runtime/agent.cpp). The perf
// buffer wakes at a watermark of half its size only, so its reader also wakes
// on a timer while idle (kPerfIdleWaitMs).
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "bpf/handles.h"

struct ring_buffer;
struct perf_buffer;

namespace ksight::bpf {

class RecordHandler {
 public:
  virtual ~RecordHandler() = default;
  virtual void on_record(const void* data, size_t size) = 0;
  // The perf buffer overwrote `count` records before they were read.
  virtual void on_lost(uint64_t count) = 0;
};

enum class ChannelKind { ring_buffer, perf_buffer };
std::string_view to_string(ChannelKind k);

class EventChannel {
 public:
  // `bytes`: ring size (rounded up to a power of two), or the total across
  // CPUs of the per-CPU perf buffers.
  static std::expected<EventChannel, std::string> create(ChannelKind kind, size_t bytes);

  EventChannel(EventChannel&&) noexcept;
  EventChannel& operator=(EventChannel&&) noexcept;
  ~EventChannel();

  ChannelKind kind() const { return kind_; }
  int map_fd() const { return map_.get(); }
  size_t bytes() const { return bytes_; }

  // Sets up the consumer. Call once, after the probes are loaded.
  std::expected<void, std::string> open_reader(RecordHandler* handler);
  // Waits up to timeout_ms for a wake-up, then drains whatever is there.
  // Returns the records consumed, or -errno.
  int poll_and_drain(int timeout_ms);
  // The fd that turns readable when the channel signals data (libbpf's epoll
  // fd), for a reader that waits on it with other fds; -1 before open_reader.
  int wait_fd() const;
  // Consumes every record there is, without waiting. Records consumed, or -errno.
  int drain();
  // How long a reader may wait on wait_fd() while idle: forever (-1) for the
  // ring buffer, which wakes on its first record; kPerfIdleWaitMs for the perf
  // buffer, which wakes only at its watermark.
  static constexpr int kPerfIdleWaitMs = 100;
  int idle_wait_ms() const { return kind_ == ChannelKind::ring_buffer ? -1 : kPerfIdleWaitMs; }
  // Bytes written but not yet consumed over the ring's size, 0..1. Negative
  // for the perf buffer, which has no single fill level.
  double fill_ratio() const;

 private:
  EventChannel(ChannelKind kind, Fd map, size_t bytes)
      : kind_(kind), map_(std::move(map)), bytes_(bytes) {}
  void release();

  ChannelKind kind_;
  Fd map_;
  size_t bytes_ = 0;
  size_t page_cnt_ = 0;
  ::ring_buffer* ring_ = nullptr;
  ::perf_buffer* perf_ = nullptr;
  RecordHandler* handler_ = nullptr;
  // Read-only views of the ring's consumer and producer position pages.
  const volatile uint64_t* consumer_pos_ = nullptr;
  const volatile uint64_t* producer_pos_ = nullptr;
};

}  // namespace ksight::bpf
