// The in-kernel token bucket's per-CPU shares (issue 12: they were shares of
// the possible CPUs, so a VM with 2 of 64 online got 1/32 of the rate).
#include "probes/rate_limit.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace ksight::probes {
namespace {

TEST(RateLimit, CpuListsAreCounted) {
  EXPECT_EQ(count_cpu_list("0"), 1u);
  EXPECT_EQ(count_cpu_list("0-1\n"), 2u);
  EXPECT_EQ(count_cpu_list("0-3,5,7-8"), 7u);
  EXPECT_EQ(count_cpu_list(""), std::nullopt);
  EXPECT_EQ(count_cpu_list("3-1"), std::nullopt);
  EXPECT_EQ(count_cpu_list("a-b"), std::nullopt);
}

TEST(RateLimit, OnlineCpusAreTheKernelsOnlineList) {
  std::ifstream f("/sys/devices/system/cpu/online");
  std::string text;
  ASSERT_TRUE(std::getline(f, text));
  EXPECT_EQ(online_cpus(), count_cpu_list(text).value());
}

// 1000 records/s on 2 online CPUs: each CPU may emit 500/s (one per 2 ms),
// and the machine 1000/s, whatever the possible CPUs are.
TEST(RateLimit, SharesAreOfTheOnlineCpus) {
  auto b = per_cpu_token_bucket(1000, 0, 2);
  EXPECT_EQ(b.cost_ns, 2'000'000u);
  EXPECT_EQ(b.burst_ns, 2'000'000u * 500);  // one second's worth, halved
  for (size_t cpus : {1u, 2u, 3u, 8u, 64u}) {
    auto t = per_cpu_token_bucket(6400, 0, cpus);
    // Records per second the machine gets: cpus * 1e9 / cost.
    double machine = static_cast<double>(cpus) * 1e9 / static_cast<double>(t.cost_ns);
    EXPECT_NEAR(machine, 6400, 6400 * 0.01) << cpus;
  }
  EXPECT_EQ(per_cpu_token_bucket(0, 0, 2).cost_ns, 0u);  // no limit
  auto burst = per_cpu_token_bucket(1000, 10, 2);
  EXPECT_EQ(burst.burst_ns, burst.cost_ns * 5);
}

}  // namespace
}  // namespace ksight::probes
