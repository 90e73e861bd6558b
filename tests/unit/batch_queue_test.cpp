#include "runtime/batch_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace ksight::runtime {
namespace {

TEST(EventBatch, AlignsRecordsAndRefusesWhenFull) {
  EventBatch b(64, 4);
  const char rec[5] = "abcd";
  ASSERT_TRUE(b.append(rec, 5));
  ASSERT_TRUE(b.append(rec, 5));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.record(1).data()) % 8, 0u);
  EXPECT_EQ(b.record(1).size(), 5u);
  EXPECT_FALSE(b.append(rec, 60));  // does not fit in the rest
  ASSERT_TRUE(b.append(rec, 5));
  ASSERT_TRUE(b.append(rec, 5));
  EXPECT_FALSE(b.append(rec, 1));  // record slots used up
  b.clear();
  EXPECT_TRUE(b.empty());
}

TEST(BatchQueue, BoundedNeverBlocksAndKeepsOrder) {
  BatchQueue q(2, 4096, 16);
  EventBatch* a = q.acquire();
  EventBatch* b = q.acquire();
  EventBatch* c = q.acquire();
  ASSERT_TRUE(a && b && c);
  EXPECT_TRUE(q.try_push(a));
  EXPECT_TRUE(q.try_push(b));
  EXPECT_FALSE(q.try_push(c));  // full: the caller counts the drop
  EXPECT_EQ(q.depth(), 2u);
  EXPECT_EQ(q.pop(std::chrono::milliseconds(0)), a);
  EXPECT_TRUE(q.try_push(c));
  EXPECT_EQ(q.pop(std::chrono::milliseconds(0)), b);
  EXPECT_EQ(q.pop(std::chrono::milliseconds(0)), c);
  EXPECT_EQ(q.pop(std::chrono::milliseconds(1)), nullptr);
}

// The reader hands over a batch at the end of every drain. With the
// dispatcher stalled, a drain of one record each time must not use up the
// queue after `capacity` drains: the waiting batches fill up first, in order.
TEST(BatchQueue, DrainsWhileTheDispatcherIsStalledFillTheWaitingBatches) {
  constexpr size_t kCapacity = 2, kBatchBytes = 4096;
  BatchQueue q(kCapacity, kBatchBytes, 512);
  uint32_t next = 0;
  size_t drains = 0;
  for (;; ++drains) {
    EventBatch* b = q.reopen_tail_or_acquire(sizeof next);
    ASSERT_NE(b, nullptr);
    if (!b->append(&next, sizeof next) || !q.try_push(b)) {
      q.release(b);
      break;
    }
    ++next;
  }
  // Refused only once both waiting batches are full: 4096 / 8 records each
  // (every record 8-byte aligned). Handing over every drain's batch as it
  // was would have refused the third drain.
  EXPECT_EQ(drains, kCapacity * kBatchBytes / 8);
  uint32_t want = 0;
  while (EventBatch* b = q.pop(std::chrono::milliseconds(0))) {
    for (size_t i = 0; i < b->size(); ++i) {
      uint32_t got;
      std::memcpy(&got, b->record(i).data(), sizeof got);
      EXPECT_EQ(got, want++);
    }
    q.release(b);
  }
  EXPECT_EQ(want, next);
}

TEST(BatchQueue, PoolIsFixed) {
  BatchQueue q(1, 4096, 16);
  std::vector<EventBatch*> taken;
  while (EventBatch* b = q.acquire()) taken.push_back(b);
  EXPECT_EQ(taken.size(), 3u);  // capacity + the two in hand
  q.release(taken.back());
  EXPECT_NE(q.acquire(), nullptr);
}

TEST(BatchQueue, HandsOffAcrossThreads) {
  BatchQueue q(4, 4096, 64);
  constexpr int kBatches = 1000;
  std::thread producer([&] {
    for (int i = 0; i < kBatches; ++i) {
      EventBatch* b = nullptr;
      while (!(b = q.acquire())) std::this_thread::yield();
      b->append(&i, sizeof(i));
      while (!q.try_push(b)) std::this_thread::yield();
    }
  });
  int expected = 0;
  while (expected < kBatches) {
    EventBatch* b = q.pop(std::chrono::milliseconds(100));
    if (!b) continue;
    int v;
    std::memcpy(&v, b->record(0).data(), sizeof(v));
    EXPECT_EQ(v, expected++);
    q.release(b);
  }
  producer.join();
}

// The reader's path (reopen the waiting tail, append, hand it over again)
// against a dispatcher taking batches at the same time: every record comes
// out once, in order (and under TSan, without a race).
TEST(BatchQueue, ReopenedTailsKeepOrderAcrossThreads) {
  BatchQueue q(4, 4096, 64);
  constexpr uint32_t kRecords = 100000;
  std::atomic<bool> done = false;
  std::thread reader([&] {
    for (uint32_t i = 0; i < kRecords; ++i) {
      EventBatch* b = nullptr;
      while (!(b = q.reopen_tail_or_acquire(sizeof i))) std::this_thread::yield();
      EXPECT_TRUE(b->append(&i, sizeof i));
      while (!q.try_push(b)) std::this_thread::yield();
    }
    done = true;
  });
  uint32_t expected = 0;
  size_t batches = 0;
  while (expected < kRecords && !(done && q.depth() == 0)) {
    EventBatch* b = q.pop(std::chrono::milliseconds(100));
    if (!b) continue;
    ++batches;
    for (size_t r = 0; r < b->size(); ++r) {
      uint32_t v;
      std::memcpy(&v, b->record(r).data(), sizeof v);
      EXPECT_EQ(v, expected++);
    }
    q.release(b);
  }
  reader.join();
  EXPECT_EQ(expected, kRecords);
  EXPECT_EQ(q.depth(), 0u);
  EXPECT_LE(batches, kRecords);
}

TEST(BatchQueue, MakesBatchesOnlyWhenNeeded) {
  BatchQueue q(8, 4096, 16);
  EXPECT_EQ(q.allocated(), 0u);
  // A quiet reader and dispatcher pass one batch back and forth.
  for (int i = 0; i < 100; ++i) {
    EventBatch* b = q.acquire();
    ASSERT_NE(b, nullptr);
    b->append(&i, sizeof(i));
    ASSERT_TRUE(q.try_push(b));
    q.release(q.pop(std::chrono::milliseconds(0)));
  }
  EXPECT_EQ(q.allocated(), 1u);
  // A backlog grows the pool up to its bound, and no further.
  std::vector<EventBatch*> taken;
  while (EventBatch* b = q.acquire()) taken.push_back(b);
  EXPECT_EQ(taken.size(), 10u);
  EXPECT_EQ(q.allocated(), 10u);
}

TEST(BatchQueue, PopOrClosedDrainsThenEnds) {
  BatchQueue q(4, 4096, 16);
  EventBatch* a = q.acquire();
  ASSERT_TRUE(q.try_push(a));
  q.close();
  EXPECT_EQ(q.pop_or_closed(), a);  // what was queued before close is still handed over
  EXPECT_EQ(q.pop_or_closed(), nullptr);
}

TEST(BatchQueue, TimedPopOrClosedTellsTimeOutFromEnd) {
  BatchQueue q(4, 4096, 16);
  EXPECT_EQ(q.pop_or_closed(std::chrono::milliseconds(1)), nullptr);
  EXPECT_FALSE(q.closed());  // timed out: go on waiting
  EventBatch* a = q.acquire();
  ASSERT_TRUE(q.try_push(a));
  q.close();
  EXPECT_FALSE(q.closed());  // one batch still to hand over
  EXPECT_EQ(q.pop_or_closed(std::chrono::milliseconds(1)), a);
  EXPECT_EQ(q.pop_or_closed(std::chrono::milliseconds(1)), nullptr);
  EXPECT_TRUE(q.closed());
}

TEST(BatchQueue, PopOrClosedSleepsUntilWoken) {
  BatchQueue q(4, 4096, 16);
  EventBatch* got = reinterpret_cast<EventBatch*>(1);
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    got = q.pop_or_closed();
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned.load());  // no timer: still waiting
  EventBatch* b = q.acquire();
  ASSERT_TRUE(q.try_push(b));
  waiter.join();
  EXPECT_EQ(got, b);
  std::thread ender([&] { got = q.pop_or_closed(); });
  q.close();
  ender.join();
  EXPECT_EQ(got, nullptr);
}

TEST(BatchQueue, QuietPushWakesOnlyOnNotifyOrBacklog) {
  BatchQueue q(8, 4096, 16);
  std::atomic<EventBatch*> got{nullptr};
  std::thread waiter([&] { got = q.pop_or_closed(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EventBatch* b = q.acquire();
  ASSERT_TRUE(q.try_push(b, /*wake=*/false));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(got.load(), nullptr);  // queued, but the dispatcher was left asleep
  q.notify();
  waiter.join();
  EXPECT_EQ(got.load(), b);
  // A backlog of a quarter of the queue wakes it even from quiet pushes.
  std::thread second([&] {
    got = nullptr;
    got = q.pop_or_closed();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EventBatch* c = q.acquire();
  EventBatch* d = q.acquire();
  ASSERT_TRUE(q.try_push(c, false));
  ASSERT_TRUE(q.try_push(d, false));  // 2 of 8 queued
  second.join();
  EXPECT_EQ(got.load(), c);
}

TEST(EventBatch, ReusedBatchHoldsOnlyNewRecords) {
  EventBatch b(64, 4);
  const uint64_t first = 0x1111, second = 0x2222;
  ASSERT_TRUE(b.append(&first, sizeof first));
  ASSERT_TRUE(b.append(&first, sizeof first));
  b.clear();
  ASSERT_TRUE(b.append(&second, sizeof second));
  ASSERT_EQ(b.size(), 1u);
  uint64_t v = 0;
  std::memcpy(&v, b.record(0).data(), sizeof v);
  EXPECT_EQ(v, second);
  // The whole buffer is usable again after clear().
  const char big[56] = {};
  EXPECT_TRUE(b.append(big, sizeof big));
}

}  // namespace
}  // namespace ksight::runtime
