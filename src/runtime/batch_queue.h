#pragma once
// The bounded hand-off between the reader thread and the dispatcher. Records
// are copied, 8-byte aligned, into preallocated batches that circulate
// between a free pool and the queue: after start-up nothing is allocated, and
// when the dispatcher falls behind the reader drops whole batches (counted by
// the caller) instead of blocking or growing.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

namespace ksight::runtime {

class EventBatch {
 public:
  EventBatch(size_t max_bytes, size_t max_records) : max_records_(max_records) {
    bytes_.reserve(max_bytes);
    offsets_.reserve(max_records);
  }
  // False when the record does not fit; the caller hands the batch on first.
  bool append(const void* data, size_t size) {
    size_t off = (bytes_.size() + 7) & ~size_t{7};
    if (offsets_.size() == max_records_ || off + size > bytes_.capacity()) return false;
    bytes_.resize(off + size);
    std::memcpy(bytes_.data() + off, data, size);
    offsets_.push_back({static_cast<uint32_t>(off), static_cast<uint32_t>(size)});
    return true;
  }
  size_t size() const { return offsets_.size(); }
  bool empty() const { return offsets_.empty(); }
  std::span<const std::byte> record(size_t i) const {
    return {bytes_.data() + offsets_[i].off, offsets_[i].len};
  }
  void clear() {
    bytes_.clear();
    offsets_.clear();
  }

 private:
  struct Slot {
    uint32_t off, len;
  };
  std::vector<std::byte> bytes_;
  std::vector<Slot> offsets_;
  size_t max_records_;
};

class BatchQueue {
 public:
  // `capacity` batches may wait in the queue; two more circulate (the one the
  // reader fills, the one the dispatcher works on).
  BatchQueue(size_t capacity, size_t batch_bytes, size_t batch_records) : capacity_(capacity) {
    for (size_t i = 0; i < capacity + 2; ++i) {
      storage_.push_back(std::make_unique<EventBatch>(batch_bytes, batch_records));
      free_.push_back(storage_.back().get());
    }
    queued_.reserve(capacity);
  }

  EventBatch* acquire() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return nullptr;
    EventBatch* b = free_.back();
    free_.pop_back();
    return b;
  }
  void release(EventBatch* b) {
    b->clear();
    std::lock_guard lock(mu_);
    free_.push_back(b);
  }
  // Never blocks: false when the queue is full.
  bool try_push(EventBatch* b) {
    {
      std::lock_guard lock(mu_);
      if (count_ == capacity_) return false;
      if (queued_.size() < capacity_) queued_.push_back(nullptr);
      queued_[(head_ + count_) % capacity_] = b;
      ++count_;
    }
    cv_.notify_one();
    return true;
  }
  // Waits up to `timeout` for a batch; null on time-out.
  EventBatch* pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return count_ > 0; })) return nullptr;
    EventBatch* b = queued_[head_];
    head_ = (head_ + 1) % capacity_;
    --count_;
    return b;
  }
  size_t depth() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<EventBatch>> storage_;
  std::vector<EventBatch*> free_;
  std::vector<EventBatch*> queued_;  // ring of capacity_ slots
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace ksight::runtime
