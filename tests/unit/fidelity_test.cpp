// The adaptive sampler's and the overhead governor's decisions, tick by
// tick, from numbers (runtime/fidelity.h); the kernel side is in
// tests/integration/fidelity_test.cpp.
#include "runtime/fidelity.h"

#include <gtest/gtest.h>

#include <vector>

namespace ksight::runtime {
namespace {

constexpr uint64_t kSec = 1'000'000'000ull;

config::Config::Sampling open_like() {
  config::Config::Sampling s;
  s.baseline = 0.1;
  s.error_boost = 1;
  s.error_threshold = 10;
  s.min = 0.01;
  s.calm_ns = 3 * kSec;
  return s;
}

TEST(AdaptiveSampler, QuietBurstRecoveryPath) {
  AdaptiveSampler s(open_like());
  EXPECT_EQ(s.period(), 10u);
  std::vector<uint32_t> path;
  uint64_t t = 0;
  auto tick = [&](uint64_t records, uint64_t errors) {
    t += kSec;
    path.push_back(s.update(t, kSec, records, errors));
  };
  tick(100000, 0);  // busy but healthy: the baseline
  tick(100000, 9);  // errors below the threshold
  tick(1000, 50);   // the burst: up at once
  tick(1000, 0);    // calm for 1 s, 2 s: held
  tick(1000, 0);
  tick(1000, 0);  // 3 s calm: halved each tick
  tick(1000, 0);
  tick(1000, 0);
  tick(1000, 0);
  tick(1000, 0);
  EXPECT_EQ(path, (std::vector<uint32_t>{10, 10, 1, 1, 1, 2, 4, 8, 10, 10}));
  EXPECT_FALSE(s.boosted());
}

TEST(AdaptiveSampler, RateThresholdAndBounds) {
  auto cfg = open_like();
  cfg.qps_threshold = 5000;
  cfg.error_boost = 0.5;
  cfg.max = 0.5;
  AdaptiveSampler s(cfg);
  EXPECT_EQ(s.update(kSec, kSec, 4999, 0), 10u);
  EXPECT_EQ(s.update(2 * kSec, kSec, 5000, 0), 2u);  // boost, capped at max
  EXPECT_EQ(s.min_period(), 100u);
  EXPECT_EQ(AdaptiveSampler::period_for(1.0 / 3), 3u);
  EXPECT_EQ(AdaptiveSampler::period_for(0), 65535u);
  EXPECT_EQ(AdaptiveSampler::period_for(1e-9), 65535u);
}

TEST(OverheadGovernor, ShedsWhileOverAndRestoresAfterHold) {
  config::Config::Budget b;
  b.bpf_cpu = 0.01;
  b.restore_after_ns = 5 * kSec;
  OverheadGovernor g(b);
  using V = OverheadGovernor::Verdict;
  EXPECT_EQ(g.update(1 * kSec, 0.005, 0, 0), V::hold);
  EXPECT_EQ(g.update(2 * kSec, 0.02, 0, 0), V::shed);
  EXPECT_TRUE(g.over());
  EXPECT_EQ(g.over_what(), "bpf_cpu");
  EXPECT_EQ(g.update(3 * kSec, 0.02, 0, 1), V::shed);
  // Under, but within 80% of the budget: no restore however long.
  EXPECT_EQ(g.update(4 * kSec, 0.009, 0, 2), V::hold);
  EXPECT_EQ(g.update(20 * kSec, 0.009, 0, 2), V::hold);
  // Well under: one step undone every 5 s.
  EXPECT_EQ(g.update(21 * kSec, 0.001, 0, 2), V::hold);
  EXPECT_EQ(g.update(25 * kSec, 0.001, 0, 2), V::hold);
  EXPECT_EQ(g.update(26 * kSec, 0.001, 0, 2), V::restore);
  EXPECT_EQ(g.update(27 * kSec, 0.001, 0, 1), V::hold);
  EXPECT_EQ(g.update(31 * kSec, 0.001, 0, 1), V::restore);
  EXPECT_EQ(g.update(32 * kSec, 0.001, 0, 0), V::hold);
}

TEST(OverheadGovernor, ALoadThatComesBackDoublesTheHold) {
  config::Config::Budget b;
  b.agent_cpu = 0.05;
  b.restore_after_ns = 2 * kSec;
  OverheadGovernor g(b);
  using V = OverheadGovernor::Verdict;
  EXPECT_EQ(g.update(1 * kSec, 0, 0.2, 0), V::shed);
  EXPECT_EQ(g.over_what(), "agent_cpu");
  EXPECT_EQ(g.update(2 * kSec, 0, 0.01, 1), V::hold);
  EXPECT_EQ(g.update(4 * kSec, 0, 0.01, 1), V::restore);
  EXPECT_EQ(g.update(5 * kSec, 0, 0.2, 0), V::shed);  // back within the hold
  EXPECT_EQ(g.hold_ns(), 4 * kSec);
  EXPECT_EQ(g.update(6 * kSec, 0, 0.01, 1), V::hold);
  EXPECT_EQ(g.update(8 * kSec, 0, 0.01, 1), V::hold);
  EXPECT_EQ(g.update(10 * kSec, 0, 0.01, 1), V::restore);
  // Never beyond 8 times the configured hold.
  for (int i = 0; i < 10; ++i) {
    g.update((20 + 100 * i) * kSec, 0, 0.2, 0);
    g.update((21 + 100 * i) * kSec, 0, 0.01, 1);
    g.update((21 + 100 * i) * kSec + g.hold_ns(), 0, 0.01, 1);
  }
  EXPECT_LE(g.hold_ns(), 16 * kSec);
}

TEST(OverheadGovernor, NoBudgetNoVerdict) {
  OverheadGovernor g(config::Config::Budget{});
  EXPECT_FALSE(g.enabled());
  EXPECT_EQ(g.update(kSec, 0.9, 0.9, 0), OverheadGovernor::Verdict::hold);
}

}  // namespace
}  // namespace ksight::runtime
