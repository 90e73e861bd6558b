#include "core/registry.h"

#include <gtest/gtest.h>

namespace ksight::core {
namespace {

const FamilySnapshot& family(const std::vector<FamilySnapshot>& snap, std::string_view name) {
  for (const auto& f : snap)
    if (f.desc->name == name) return f;
  throw std::runtime_error("no family " + std::string(name));
}

TEST(Registry, CountersAddPerLabelSet) {
  Registry reg;
  auto id = reg.add({.name = "t_total", .help = "h", .label_names = {"comm"}});
  {
    auto w = reg.write(1);
    w.add(id, {"a"});
    w.add(id, {"a"});
    w.add(id, {"b"}, 5);
  }
  auto snap = reg.collect(2);
  const auto& f = family(snap, "t_total");
  ASSERT_EQ(f.series.size(), 2u);
  EXPECT_EQ(f.series[0].labels, std::vector<std::string>{"a"});
  EXPECT_EQ(f.series[0].value, 2);
  EXPECT_EQ(f.series[1].value, 5);
}

TEST(Registry, WrongLabelCountIsAnError) {
  Registry reg;
  auto id = reg.add({.name = "t_total", .help = "h", .label_names = {"a", "b"}});
  auto w = reg.write(1);
  EXPECT_THROW(w.add(id, {"only-one"}), std::invalid_argument);
}

TEST(Registry, CapFoldsNewSeriesIntoOverflowAndCountsIt) {
  Registry reg;
  auto id =
      reg.add({.name = "capped_total", .help = "h", .label_names = {"comm"}, .max_series = 3});
  {
    auto w = reg.write(1);
    for (int i = 0; i < 10; ++i) w.add(id, {std::to_string(i)});
    w.add(id, {"0"});  // an existing series still counts on its own
  }
  auto snap = reg.collect(2);
  const auto& f = family(snap, "capped_total");
  // 3 real series + the overflow series (the cap bounds the real ones).
  ASSERT_EQ(f.series.size(), 4u);
  double overflow = 0, zero = 0;
  for (const auto& s : f.series) {
    if (s.labels[0] == kOverflowLabel) overflow = s.value;
    if (s.labels[0] == "0") zero = s.value;
  }
  EXPECT_EQ(overflow, 7);
  EXPECT_EQ(zero, 2);
  const auto& o = family(snap, "ksight_series_overflow_total");
  ASSERT_EQ(o.series.size(), 1u);
  EXPECT_EQ(o.series[0].labels[0], "capped_total");
  EXPECT_EQ(o.series[0].value, 7);
}

TEST(Registry, StaleSeriesExpireButPinnedOnesStay) {
  Registry reg({.default_max_series = 100, .series_ttl_ns = 1000});
  auto id = reg.add({.name = "e_total", .help = "h", .label_names = {"comm"}});
  auto pinned = reg.add({.name = "p", .help = "h", .kind = MetricKind::gauge, .expires = false});
  {
    auto w = reg.write(100);
    w.add(id, {"old"});
    w.set(pinned, {}, 1);
  }
  {
    auto w = reg.write(900);
    w.add(id, {"fresh"});
  }
  EXPECT_EQ(reg.expire(1500), 1u);  // "old" last moved at 100, 1400 ago
  auto snap = reg.collect(1500);
  const auto& f = family(snap, "e_total");
  ASSERT_EQ(f.series.size(), 1u);
  EXPECT_EQ(f.series[0].labels[0], "fresh");
  EXPECT_EQ(family(snap, "p").series.size(), 1u);
}

TEST(Registry, HistogramBucketsAreInclusiveUpperBounds) {
  Registry reg;
  auto id =
      reg.add({.name = "h_seconds", .help = "h", .kind = MetricKind::histogram, .bounds = {1, 10}});
  {
    auto w = reg.write(1);
    for (double v : {0.5, 1.0, 2.0, 10.0, 11.0}) w.observe(id, {}, v);
  }
  auto snap = reg.collect(2);
  const auto& s = family(snap, "h_seconds").series.at(0);
  EXPECT_EQ(s.buckets, (std::vector<uint64_t>{2, 2, 1}));
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 24.5);
}

TEST(Registry, SetHistogramReplacesKernelAggregatedCounts) {
  Registry reg;
  auto id =
      reg.add({.name = "k_seconds", .help = "h", .kind = MetricKind::histogram, .bounds = {1, 2}});
  std::vector<uint64_t> counts{3, 0, 1};
  {
    auto w = reg.write(1);
    std::string_view none[] = {""};
    EXPECT_THROW(w.set_histogram(id, std::span<const std::string_view>(none, 0),
                                 std::vector<uint64_t>{1, 2}, 0),
                 std::invalid_argument);
    w.set_histogram(id, {}, counts, 4.5);
  }
  auto snap = reg.collect(2);
  const auto& s = family(snap, "k_seconds").series.at(0);
  EXPECT_EQ(s.count, 4u);
  EXPECT_EQ(s.buckets, counts);
}

TEST(Registry, RefreshersRunAtCollectAndCanBeRemoved) {
  Registry reg;
  auto id = reg.add({.name = "g", .help = "h", .kind = MetricKind::gauge});
  int calls = 0;
  auto token = reg.add_refresher([&](Registry::Writer& w) { w.set(id, {}, ++calls); });
  EXPECT_EQ(family(reg.collect(1), "g").series.at(0).value, 1);
  reg.remove_refresher(token);
  reg.collect(2);
  EXPECT_EQ(calls, 1);
}

TEST(Registry, Log2Bounds) {
  // 6 slots: 0, 1, (1,2], (2,4], (4,8], +Inf.
  auto b = log2_bounds(6, 1e-6);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0], 0.0);
  EXPECT_DOUBLE_EQ(b[1], 1e-6);
  EXPECT_DOUBLE_EQ(b[2], 2e-6);
  EXPECT_DOUBLE_EQ(b[3], 4e-6);
  EXPECT_DOUBLE_EQ(b[4], 8e-6);
}

}  // namespace
}  // namespace ksight::core

namespace ksight::core {
namespace {

double value_of(const std::vector<FamilySnapshot>& snap, std::string_view fam,
                std::string_view label) {
  for (const auto& s : family(snap, fam).series)
    if (s.labels[0] == label) return s.value;
  return -1;
}

// Issue 12: kernel-aggregated counters are set() to absolute values; past the
// cap they overwrote each other in the overflow series, which went backwards.
TEST(Registry, OverflowSeriesOfACounterIsMonotonicUnderSet) {
  Registry reg({.default_max_series = 100, .series_ttl_ns = 0});
  auto id =
      reg.add({.name = "k_total", .help = "h", .label_names = {"cgroup_id"}, .max_series = 2});
  // {key, absolute value the kernel map holds}, as refreshes would set them.
  const std::vector<std::vector<std::pair<std::string, double>>> refreshes = {
      {{"1", 10}, {"2", 10}, {"3", 100}, {"4", 5}},  // 3 and 4 overflow: 105
      {{"3", 100}, {"4", 6}},                        // 4 grew by 1: 106
      {{"4", 7}},                                    // 3 vanished from the map: keeps its 100
      {{"3", 2}},                                    // 3 was deleted and re-created: +2
      {{"5", 1}, {"4", 7}},                          // a new key: +1
  };
  const std::vector<double> expected = {105, 106, 107, 109, 110};
  double previous = 0;
  for (size_t r = 0; r < refreshes.size(); ++r) {
    uint64_t now = 100 * (r + 1);
    {
      auto w = reg.write(now);
      for (const auto& [k, v] : refreshes[r]) w.set(id, {k}, v);
    }
    double overflow = value_of(reg.collect(now), "k_total", kOverflowLabel);
    EXPECT_EQ(overflow, expected[r]) << "refresh " << r;
    EXPECT_GE(overflow, previous) << "refresh " << r;
    previous = overflow;
  }
  // The series under the cap are set as before, and keep their last value
  // when the kernel stops reporting them.
  auto snap = reg.collect(1000);
  EXPECT_EQ(value_of(snap, "k_total", "1"), 10);
  EXPECT_EQ(value_of(snap, "k_total", "2"), 10);
}

TEST(Registry, OverflowContributionsExpireWithTheirKeys) {
  Registry reg({.default_max_series = 100, .series_ttl_ns = 1000});
  auto id = reg.add({.name = "k_total", .help = "h", .label_names = {"k"}, .max_series = 1});
  reg.write(0).set(id, {"a"}, 1);
  reg.write(0).set(id, {"b"}, 50);   // overflow: 50
  reg.write(900).set(id, {"c"}, 1);  // overflow: 51, and keeps it alive
  // "b"'s contribution expired with the TTL: set again, it counts as new.
  reg.collect(1500);
  reg.write(1600).set(id, {"b"}, 60);
  EXPECT_EQ(value_of(reg.collect(1600), "k_total", kOverflowLabel), 111);
}

}  // namespace
}  // namespace ksight::core

namespace ksight::core {
namespace {

// The same for kernel-aggregated histograms (runqlat, syscalls per cgroup):
// set_histogram() past the cap overwrote the overflow series' buckets.
TEST(Registry, OverflowHistogramOfSetHistogramIsMonotonic) {
  Registry reg({.default_max_series = 100, .series_ttl_ns = 0});
  auto id = reg.add({.name = "h_seconds",
                     .help = "h",
                     .kind = MetricKind::histogram,
                     .label_names = {"cgroup_id"},
                     .bounds = {1, 2},
                     .max_series = 1});
  auto set = [&](std::string_view k, std::vector<uint64_t> b, double sum, uint64_t now) {
    std::string_view l[] = {k};
    reg.write(now).set_histogram(id, l, b, sum);
  };
  auto overflow = [&](uint64_t now) {
    const auto snap = reg.collect(now);
    for (const auto& s : family(snap, "h_seconds").series)
      if (s.labels[0] == kOverflowLabel) return s;
    return SeriesSnapshot{};
  };
  set("1", {1, 1, 1}, 3, 1);
  set("2", {10, 0, 0}, 5, 1);  // overflow
  set("3", {0, 4, 0}, 6, 1);   // overflow
  auto o = overflow(1);
  EXPECT_EQ(o.buckets, (std::vector<uint64_t>{10, 4, 0}));
  EXPECT_EQ(o.count, 14u);
  EXPECT_EQ(o.sum, 11);
  set("2", {12, 0, 1}, 9, 2);  // +2, +1
  o = overflow(2);
  EXPECT_EQ(o.buckets, (std::vector<uint64_t>{12, 4, 1}));
  EXPECT_EQ(o.count, 17u);
  EXPECT_EQ(o.sum, 15);
  set("3", {0, 1, 0}, 1, 3);  // deleted and re-created: all of it is new
  o = overflow(3);
  EXPECT_EQ(o.buckets, (std::vector<uint64_t>{12, 5, 1}));
  EXPECT_EQ(o.count, 18u);
}

}  // namespace
}  // namespace ksight::core

namespace ksight::core {
namespace {

TEST(Registry, RemoveSeriesDropsEveryLabelSetStartingWithTheValue) {
  Registry reg;
  auto id = reg.add({.name = "up",
                     .help = "h",
                     .kind = MetricKind::gauge,
                     .label_names = {"probe", "attach"},
                     .expires = false});
  {
    auto w = reg.write(1);
    w.set(id, {"exec", "tp_btf"}, 1);
    w.set(id, {"exit", "tp_btf"}, 1);
    w.set(id, {"exit", "none"}, 0);
    w.remove_series(id, "exit");
  }
  auto snap = reg.collect(2);
  ASSERT_EQ(family(snap, "up").series.size(), 1u);
  EXPECT_EQ(family(snap, "up").series[0].labels[0], "exec");
}

TEST(Registry, SetLimitsChangesTheDefaultCapAndTtl) {
  Registry reg({.default_max_series = 1, .series_ttl_ns = 0});
  auto id = reg.add({.name = "t_total", .help = "h", .label_names = {"comm"}});
  auto own = reg.add({.name = "o_total", .help = "h", .label_names = {"comm"}, .max_series = 1});
  reg.set_limits(3, 100);
  {
    auto w = reg.write(1);
    for (auto c : {"a", "b", "c"}) {
      w.add(id, {c});
      w.add(own, {c});
    }
  }
  auto snap = reg.collect(2);
  EXPECT_EQ(family(snap, "t_total").series.size(), 3u);
  EXPECT_EQ(family(snap, "o_total").series.size(), 2u);  // its own cap of 1, plus overflow
  EXPECT_EQ(reg.collect(1000).size(), snap.size());
  EXPECT_EQ(reg.series_count(), 1u);  // 100 ns TTL: all expired but the overflow counter
}

}  // namespace
}  // namespace ksight::core
