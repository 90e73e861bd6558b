// Stacks drained in several rounds add up; past the bound they are counted.
#include "profile/stack_accumulator.h"

#include <gtest/gtest.h>

namespace ksight::profile {
namespace {

RawStack stack(uint32_t pid, std::vector<uint64_t> k, std::vector<uint64_t> u, uint64_t n) {
  return {.pid = pid,
          .cgroup_id = 7,
          .comm = "app",
          .kernel_ips = std::move(k),
          .user_ips = std::move(u),
          .count = n,
          .value_ns = n * 10};
}

TEST(StackAccumulator, MergesEqualStacksAcrossDrains) {
  StackAccumulator acc;
  acc.add({stack(1, {0xa}, {0x1, 0x2}, 3), stack(1, {}, {0x1, 0x2}, 1)});
  acc.add({stack(1, {0xa}, {0x1, 0x2}, 4), stack(2, {0xa}, {0x1, 0x2}, 5)});
  // The same addresses split differently between kernel and user differ.
  acc.add(stack(1, {0xa, 0x1}, {0x2}, 6));
  auto all = acc.take();
  ASSERT_EQ(all.size(), 4u);
  uint64_t merged = 0;
  for (const auto& s : all)
    if (s.pid == 1 && s.kernel_ips.size() == 1 && s.user_ips.size() == 2) merged = s.count;
  EXPECT_EQ(merged, 7u);
  EXPECT_EQ(acc.size(), 0u);
}

TEST(StackAccumulator, CountsWhatDoesNotFit) {
  StackAccumulator acc(2);
  acc.add(stack(1, {}, {0x1}, 1));
  acc.add(stack(2, {}, {0x1}, 1));
  acc.add(stack(3, {}, {0x1}, 9));  // a third distinct stack: counted, not kept
  acc.add(stack(1, {}, {0x1}, 2));  // a known one still adds up
  EXPECT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc.dropped_samples(), 9u);
  uint64_t total = 0;
  for (const auto& s : acc.take()) total += s.count;
  EXPECT_EQ(total, 4u);
}

}  // namespace
}  // namespace ksight::profile
