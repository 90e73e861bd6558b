#pragma once
// Snapshots that exercise every corner of the exporters' formatting, for the
// byte-for-byte comparisons with the reference encoders.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/registry.h"

namespace ksight::testing {

inline std::shared_ptr<const core::MetricDesc> desc(std::string name, std::string help,
                                                    core::MetricKind kind,
                                                    std::vector<std::string> labels,
                                                    std::vector<double> bounds = {}) {
  return std::make_shared<const core::MetricDesc>(core::MetricDesc{.name = std::move(name),
                                                                   .help = std::move(help),
                                                                   .kind = kind,
                                                                   .label_names = std::move(labels),
                                                                   .bounds = std::move(bounds)});
}

// Values that print differently: integers, fractions, huge, tiny, signed
// zero, the limits of exact integers, infinities and NaN.
inline std::vector<double> tricky_values() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0,
          -0.0,
          1.0,
          -1.0,
          42.0,
          0.1,
          0.5,
          1.0 / 3,
          2.0 / 3,
          123456789.123,
          1e-7,
          1e-300,
          5e-324,
          2.2250738585072014e-308,
          1e14,
          999999999999999.0,
          1e15,
          1e16,
          9007199254740993.0,
          1.8446744073709552e19,
          1e20,
          1e300,
          std::numeric_limits<double>::max(),
          -123.456e-5,
          3.0e-5,
          0.001,
          0.0001,
          inf,
          -inf,
          std::numeric_limits<double>::quiet_NaN()};
}

// Random doubles: random bit patterns (every exponent) and round decimals.
inline std::vector<double> random_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<double> out;
  for (size_t i = 0; i < n; ++i) {
    double v;
    switch (i % 4) {
      case 0: {
        uint64_t bits = rng();
        std::memcpy(&v, &bits, sizeof(v));
        break;
      }
      case 1:
        v = static_cast<double>(rng() % 1000000) / 1000.0;
        break;
      case 2:
        v = static_cast<double>(rng() >> (rng() % 64));
        break;
      default:
        v = std::ldexp(static_cast<double>(rng() % 100000), -static_cast<int>(rng() % 60));
    }
    out.push_back(v);
  }
  return out;
}

// Counters, gauges and histograms; labels with escapes, control bytes and
// multi-byte UTF-8; identity labels with and without values; an empty
// family; a family without labels; a family without help.
inline std::vector<core::FamilySnapshot> varied_snapshot() {
  using core::MetricKind;
  const uint64_t start = core::mono_ns() - 1'000'000'000;
  std::vector<core::FamilySnapshot> snap;
  const std::vector<std::string> odd_labels = {"",
                                               "plain",
                                               "back\\slash",
                                               "quo\"te",
                                               "new\nline",
                                               "tab\there",
                                               "cr\rlf",
                                               "\b\f\x01\x1f\x7f",
                                               "caf\xC3\xA9 \xE2\x82\xAC",
                                               "\xEF\xBF\xBD",
                                               "{}=,\"\\n",
                                               "__overflow__"};
  {
    core::FamilySnapshot f{desc("ksight_test_events_total", "Events, \"quoted\" \\ help.",
                                MetricKind::counter, {"comm", "reason"}),
                           {}};
    auto vals = tricky_values();
    for (size_t i = 0; i < vals.size(); ++i)
      f.series.push_back({.labels = {odd_labels[i % odd_labels.size()], std::to_string(i)},
                          .value = vals[i],
                          .start_mono_ns = start + i});
    snap.push_back(std::move(f));
  }
  {
    core::FamilySnapshot f{desc("ksight_test_up", "", MetricKind::gauge, {}), {}};
    f.series.push_back({.value = 1, .start_mono_ns = start});
    snap.push_back(std::move(f));
  }
  snap.push_back({desc("ksight_test_empty_bytes", "Nothing yet.", MetricKind::gauge, {"x"}), {}});
  {
    core::FamilySnapshot f{
        desc("ksight_test_pod_bytes", "Identity labels.", MetricKind::gauge,
             {"namespace", "pod", "container", "workload", "workload_kind", "cgroup_id", "comm"}),
        {}};
    f.series.push_back({.labels = {"default", "web-1", "nginx", "web", "Deployment", "42", "ng"},
                        .value = 1.5,
                        .start_mono_ns = start});
    f.series.push_back(
        {.labels = {"", "", "", "", "", "7", "bash"}, .value = 2, .start_mono_ns = start});
    f.series.push_back({.labels = {"kube-system", "p", "c", "j", "CronJob", "9", "x\ny"},
                        .value = -3.25,
                        .start_mono_ns = start});
    f.series.push_back(
        {.labels = {"ns", "p", "", "p", "Pod", "1", ""}, .value = 1e-9, .start_mono_ns = start});
    snap.push_back(std::move(f));
  }
  {
    // The kernel's log2 slots in seconds (fractions, a zero bound, many
    // buckets); OTLP may write these as exponential histograms.
    auto bounds = core::log2_bounds(29, 1e-6);
    auto latency = std::make_shared<core::MetricDesc>(
        *desc("ksight_test_latency_seconds", "Latency.", MetricKind::histogram, {"op"}, bounds));
    latency->log2_unit = 1e-6;
    latency->log2_ucum = "us";
    core::FamilySnapshot f{std::move(latency), {}};
    std::mt19937_64 rng(7);
    for (int s = 0; s < 5; ++s) {
      core::SeriesSnapshot ss{.labels = {odd_labels[static_cast<size_t>(s) * 2]},
                              .start_mono_ns = start + static_cast<uint64_t>(s)};
      for (size_t b = 0; b <= bounds.size(); ++b) {
        ss.buckets.push_back(s == 0 ? 0 : rng() % 100000);
        ss.count += ss.buckets.back();
      }
      ss.sum = s == 3 ? std::numeric_limits<double>::quiet_NaN()
                      : static_cast<double>(ss.count) * 0.0137;
      f.series.push_back(std::move(ss));
    }
    snap.push_back(std::move(f));
  }
  {
    // Integer bounds, no labels; one series with fewer buckets than bounds
    // (no +Inf bucket of its own) and one with an infinite bound.
    const double inf = std::numeric_limits<double>::infinity();
    core::FamilySnapshot f{
        desc("ksight_test_sizes_bytes", "Sizes.", MetricKind::histogram, {}, {1, 10, 100, 1e6}),
        {}};
    f.series.push_back(
        {.buckets = {1, 2, 3, 4, 5}, .count = 15, .sum = 1e21, .start_mono_ns = start});
    f.series.push_back({.buckets = {1, 2}, .count = 9, .sum = 0, .start_mono_ns = start});
    snap.push_back(std::move(f));
    core::FamilySnapshot g{
        desc("ksight_test_inf_seconds", "Inf bound.", MetricKind::histogram, {"a"}, {0.5, inf}),
        {}};
    g.series.push_back(
        {.labels = {"v"}, .buckets = {1, 1, 0}, .count = 2, .sum = 0.75, .start_mono_ns = start});
    snap.push_back(std::move(g));
  }
  return snap;
}

// One counter family with a series per value.
inline std::vector<core::FamilySnapshot> values_snapshot(const std::vector<double>& values) {
  core::FamilySnapshot f{desc("ksight_test_values", "Values.", core::MetricKind::gauge, {"i"}), {}};
  for (size_t i = 0; i < values.size(); ++i)
    f.series.push_back({.labels = {std::to_string(i)}, .value = values[i], .start_mono_ns = 1});
  return {std::move(f)};
}

}  // namespace ksight::testing
