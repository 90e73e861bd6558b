#pragma once
// The bounded hand-off between the reader thread and the dispatcher. Records
// are copied, 8-byte aligned, into batches that circulate between a free pool
// and the queue. The pool grows on demand up to its bound, and a batch's
// buffer is left uninitialized, so an agent that sees few events touches (and
// keeps resident) only the pages it wrote; past the bound nothing more is
// allocated, and when the dispatcher falls behind the reader drops whole
// batches (counted by the caller) instead of blocking or growing.
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
  // Both buffers are allocated uninitialized (large ones are mmapped by
  // malloc): a page costs resident memory only once a record is written to it.
  EventBatch(size_t max_bytes, size_t max_records)
      : bytes_(new std::byte[max_bytes]),
        slots_(new Slot[max_records]),
        max_bytes_(max_bytes),
        max_records_(max_records) {}
  // False when the record does not fit; the caller hands the batch on first.
  bool append(const void* data, size_t size) {
    if (!has_room(size)) return false;
    size_t off = (used_ + 7) & ~size_t{7};
    std::memcpy(bytes_.get() + off, data, size);
    slots_[count_++] = {static_cast<uint32_t>(off), static_cast<uint32_t>(size)};
    used_ = off + size;
    return true;
  }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Whether a record of `size` bytes still fits.
  bool has_room(size_t size) const {
    return count_ < max_records_ && ((used_ + 7) & ~size_t{7}) + size <= max_bytes_;
  }
  std::span<const std::byte> record(size_t i) const {
    return {bytes_.get() + slots_[i].off, slots_[i].len};
  }
  void clear() {
    used_ = 0;
    count_ = 0;
  }

 private:
  struct Slot {
    uint32_t off, len;
  };
  std::unique_ptr<std::byte[]> bytes_;
  std::unique_ptr<Slot[]> slots_;
  size_t max_bytes_;
  size_t max_records_;
  size_t used_ = 0;
  size_t count_ = 0;
};

class BatchQueue {
 public:
  // `capacity` batches may wait in the queue; two more circulate (the one the
  // reader fills, the one the dispatcher works on). Batches are made when
  // first needed, so a quiet agent holds one or two.
  BatchQueue(size_t capacity, size_t batch_bytes, size_t batch_records)
      : capacity_(capacity), batch_bytes_(batch_bytes), batch_records_(batch_records) {
    storage_.reserve(capacity + 2);
    free_.reserve(capacity + 2);
    queued_.resize(capacity);
  }

  // A free batch, the most recently released first (its pages are the warm
  // ones); null when every batch is in use and the pool is at its bound.
  EventBatch* acquire() {
    std::lock_guard lock(mu_);
    if (free_.empty()) {
      if (storage_.size() == capacity_ + 2) return nullptr;
      storage_.push_back(std::make_unique<EventBatch>(batch_bytes_, batch_records_));
      return storage_.back().get();
    }
    EventBatch* b = free_.back();
    free_.pop_back();
    return b;
  }
  // The batch to fill next: the last one queued, taken back while the
  // dispatcher has not started on it and it has room for `room` more bytes,
  // else a free one as acquire(). The reader hands over a batch at the end of
  // every drain, however few records it holds; when the dispatcher falls
  // behind, this fills the waiting batches up, so the queue's bound is
  // `capacity` full batches of records rather than `capacity` drains. Records
  // stay in order: only the newest batch is reopened.
  EventBatch* reopen_tail_or_acquire(size_t room) {
    {
      std::lock_guard lock(mu_);
      if (count_ > 0) {
        size_t tail = (head_ + count_ - 1) % capacity_;
        if (queued_[tail]->has_room(room)) {
          --count_;
          return queued_[tail];
        }
      }
    }
    return acquire();
  }
  void release(EventBatch* b) {
    b->clear();
    std::lock_guard lock(mu_);
    free_.push_back(b);
  }
  // Never blocks: false when the queue is full. With `wake` false the
  // dispatcher is not woken for this batch (a futex round trip per batch was
  // a third of the agent's CPU at 1 M events/s) unless a quarter of the queue
  // is waiting; the caller wakes it with notify() once its drain is done.
  bool try_push(EventBatch* b, bool wake = true) {
    {
      std::lock_guard lock(mu_);
      if (count_ == capacity_) return false;
      queued_[(head_ + count_) % capacity_] = b;
      ++count_;
      wake = wake || count_ * 4 >= capacity_;
    }
    if (wake) cv_.notify_one();
    return true;
  }
  void notify() { cv_.notify_one(); }
  // Waits up to `timeout` for a batch; null on time-out.
  EventBatch* pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return count_ > 0; })) return nullptr;
    return take_locked();
  }
  // Waits, with no timer, for a batch or for close(); null once the queue is
  // closed and empty. The dispatcher sleeps here while nothing happens.
  EventBatch* pop_or_closed() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return count_ > 0 || closed_; });
    return count_ > 0 ? take_locked() : nullptr;
  }
  // The same, but gives up after `timeout` (null, with closed() false).
  EventBatch* pop_or_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return count_ > 0 || closed_; });
    return count_ > 0 ? take_locked() : nullptr;
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_ && count_ == 0;
  }
  // No more batches will come: wakes pop_or_closed() once the queue is empty.
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Batches made so far (the pool grows on demand up to capacity() + 2).
  size_t allocated() const {
    std::lock_guard lock(mu_);
    return storage_.size();
  }
  size_t depth() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  size_t capacity() const { return capacity_; }

 private:
  EventBatch* take_locked() {
    EventBatch* b = queued_[head_];
    head_ = (head_ + 1) % capacity_;
    --count_;
    return b;
  }

  size_t capacity_;
  size_t batch_bytes_;
  size_t batch_records_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<EventBatch>> storage_;
  std::vector<EventBatch*> free_;
  std::vector<EventBatch*> queued_;  // ring of capacity_ slots
  size_t head_ = 0;
  size_t count_ = 0;
  bool closed_ = false;
};

}  // namespace ksight::runtime
