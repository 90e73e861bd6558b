#include <gtest/gtest.h>

#include <cstdint>

#include "cli/common.h"

namespace ksight::cli {
namespace {

using std::chrono::milliseconds;

TEST(IdleWait, SleepsUntilTheEarliestDueTime) {
  const uint64_t now = 5'000'000'000ull;
  EXPECT_EQ(idle_wait(now, {now + 300'000'000, now + 700'000'000}), milliseconds(300));
  EXPECT_EQ(idle_wait(now, {now + 700'000'000, now + 300'000'000}), milliseconds(300));
}

TEST(IdleWait, RoundsUpSoTheLoopWakesAtOrAfterTheDueTime) {
  const uint64_t now = 1'000'000'000ull;
  EXPECT_EQ(idle_wait(now, {now + 1}), milliseconds(1));
  EXPECT_EQ(idle_wait(now, {now + 2'000'001}), milliseconds(3));
}

TEST(IdleWait, NothingDueWaitsTheLongestAllowed) {
  EXPECT_EQ(idle_wait(42, {UINT64_MAX, UINT64_MAX}), milliseconds(1000));
  EXPECT_EQ(idle_wait(42, {UINT64_MAX}, milliseconds(200)), milliseconds(200));
  EXPECT_EQ(idle_wait(42, {42 + 5'000'000'000ull}, milliseconds(200)), milliseconds(200));
}

TEST(IdleWait, OverdueDoesNotWait) {
  EXPECT_EQ(idle_wait(1000, {999}), milliseconds(0));
  EXPECT_EQ(idle_wait(1000, {1000, UINT64_MAX}), milliseconds(0));
}

}  // namespace
}  // namespace ksight::cli
