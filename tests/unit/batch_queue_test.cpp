#include "runtime/batch_queue.h"

#include <gtest/gtest.h>

#include <thread>

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

}  // namespace
}  // namespace ksight::runtime
