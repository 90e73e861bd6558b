#include "config/units.h"

#include <gtest/gtest.h>

namespace ksight::config {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(*parse_duration_ns("500ms"), 500'000'000u);
  EXPECT_EQ(*parse_duration_ns("10s"), 10'000'000'000u);
  EXPECT_EQ(*parse_duration_ns("5m"), 300'000'000'000u);
  EXPECT_EQ(*parse_duration_ns("1h30m"), 5'400'000'000'000u);
  for (const char* bad : {"", "10", "s", "10x", "-1s", "1.5s"}) {
    auto r = parse_duration_ns(bad);
    EXPECT_FALSE(r) << bad;
  }
  EXPECT_EQ(format_duration(300'000'000'000u), "5m");
  EXPECT_EQ(format_duration(1'500'000'000u), "1500ms");
}

TEST(Units, Sizes) {
  EXPECT_EQ(*parse_size_bytes("4096"), 4096u);
  EXPECT_EQ(*parse_size_bytes("256KiB"), 256u * 1024);
  EXPECT_EQ(*parse_size_bytes("8MiB"), 8u << 20);
  EXPECT_FALSE(parse_size_bytes("8 MB"));
  EXPECT_FALSE(parse_size_bytes("MiB"));
}

}  // namespace
}  // namespace ksight::config
