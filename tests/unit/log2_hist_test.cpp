// The kernel's log2 slots (include/ksight/abi/hist.h) and every form they
// leave in: the slot arithmetic the BPF programs run, compiled here
// unchanged; Prometheus' `le` bounds; OTLP's exponential buckets and explicit
// form; the ranges `ksight trace` prints. Each is checked against its own
// definition (Prometheus: a value counts in every bucket whose `le` is at
// least the value; OpenTelemetry: index i holds 2^i < v <= 2^(i+1)), not
// against the slot arithmetic.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/histogram_printer.h"
#include "core/registry.h"
#include "export/otlp.h"
#include "export/prometheus.h"
#include "ksight/abi/hist.h"
#include "probes/runqlat.h"

namespace ksight {
namespace {

constexpr size_t kSlots = KSIGHT_LOG2_SLOTS;
constexpr size_t kLast = kSlots - 1;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// What ksight__hist_record does with a value: its slot, clamped to the last.
size_t kernel_slot(uint64_t v) {
  return static_cast<size_t>(std::min<uint64_t>(ksight__log2_slot(v), kLast));
}

// OpenTelemetry's scale-0 bucket of v > 0: the i with 2^i < v <= 2^(i+1).
int otel_index(uint64_t v) {
  if (v <= 1) return -1;  // (0.5, 1]
  for (int i = 0; i < 63; ++i)
    if (v <= uint64_t{1} << (i + 1)) return i;
  return 63;
}

// Values on, just below and just above every power of two, 0..4096, the top.
std::vector<uint64_t> probe_values() {
  std::vector<uint64_t> out;
  for (uint64_t v = 0; v <= 4096; ++v) out.push_back(v);
  for (int j = 12; j < 64; ++j) {
    const uint64_t p = uint64_t{1} << j;
    out.insert(out.end(), {p - 1, p, p + 1});
  }
  out.push_back(kMax);
  return out;
}

TEST(Log2Slots, ValuesOnPowersOfTwoAreTheTopOfTheirSlot) {
  const std::map<uint64_t, size_t> expected = {{0, 0},
                                               {1, 1},
                                               {2, 2},
                                               {3, 3},
                                               {4, 3},
                                               {5, 4},
                                               {7, 4},
                                               {8, 4},
                                               {9, 5},
                                               {1024, 11},
                                               {1025, 12},
                                               {uint64_t{1} << 26, kLast - 1},
                                               {(uint64_t{1} << 26) + 1, kLast},
                                               {kMax, kLast}};
  for (const auto& [v, slot] : expected) EXPECT_EQ(kernel_slot(v), slot) << v;
  // Unclamped, the arithmetic spans all 64 bits (floor(log2(v-1)) + 2).
  EXPECT_EQ(ksight__log2_slot(uint64_t{1} << 63), 64u);
  EXPECT_EQ(ksight__log2_slot((uint64_t{1} << 63) + 1), 65u);
  EXPECT_EQ(ksight__log2_slot(kMax), 65u);
}

TEST(Log2Slots, EverySlotIsOnePrometheusBucketAndOneExponentialBucket) {
  const auto le = core::log2_bounds(kSlots, 1.0);
  ASSERT_EQ(le.size(), kLast);
  for (uint64_t v : probe_values()) {
    const size_t s = kernel_slot(v);
    const auto value = static_cast<double>(v);
    // Prometheus: v is in the first bucket whose le is >= v.
    if (s < kLast) {
      EXPECT_LE(value, le[s]) << v;
    }
    if (s > 0) {
      EXPECT_GT(value, le[s - 1]) << v;
    }
    // OpenTelemetry: 0 is the zero count; slot s >= 1 is index s - 2. The
    // +Inf slot is written as the next index, whose lower bound holds.
    if (v == 0) {
      EXPECT_EQ(s, 0u);
    } else if (s < kLast) {
      EXPECT_EQ(static_cast<int>(s) - 2, otel_index(v)) << v;
    } else {
      EXPECT_GE(otel_index(v), static_cast<int>(kLast) - 2) << v;
    }
  }
}

// A registry histogram set from kernel slots, as the probes set them.
struct KernelHistogram {
  std::vector<uint64_t> values;
  core::Registry reg;
  std::vector<core::FamilySnapshot> snap;

  explicit KernelHistogram(std::vector<uint64_t> vs) : values(std::move(vs)) {
    auto id = reg.add(probes::log2_us_histogram(
        {.name = "ksight_x_seconds", .help = "X.", .label_names = {"op"}}));
    std::vector<uint64_t> slots(kSlots);
    uint64_t sum = 0;
    for (uint64_t v : values) {
      ++slots[kernel_slot(v)];
      sum += v;
    }
    {
      auto w = reg.write(1);
      std::string_view labels[] = {"read"};
      w.set_histogram(id, labels, slots, static_cast<double>(sum) * 1e-6);
    }
    snap = reg.collect(2);
  }
  const core::SeriesSnapshot& series() const {
    for (const auto& f : snap)
      if (f.desc->name == "ksight_x_seconds") return f.series.at(0);
    throw std::runtime_error("no ksight_x_seconds");
  }
};

// 0, 1, powers of two and their neighbours, the top finite slot, overflow.
const std::vector<uint64_t> kValues = {
    0, 0, 1, 2, 3, 4, 4, 5, 8, 9, 4096, 4097, 1u << 26, (1u << 26) + 1, 1'000'000'000'000};

TEST(Log2Export, PrometheusBucketsCountEachValueUnderItsOwnPowerOfTwo) {
  KernelHistogram h(kValues);
  std::istringstream text(exporters::prometheus_text(h.snap));
  std::string line;
  size_t buckets = 0;
  while (std::getline(text, line)) {
    const std::string prefix = "ksight_x_seconds_bucket{op=\"read\",le=\"";
    if (line.rfind(prefix, 0) != 0) continue;
    const auto quote = line.find('"', prefix.size());
    const std::string le_text = line.substr(prefix.size(), quote - prefix.size());
    const double le =
        le_text == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le_text);
    const uint64_t cumulative = std::stoull(line.substr(line.rfind(' ') + 1));
    // Prometheus' definition, from the values themselves (in seconds, as observed).
    uint64_t want = 0;
    for (uint64_t v : kValues) want += static_cast<double>(v) * 1e-6 <= le;
    EXPECT_EQ(cumulative, want) << line;
    ++buckets;
  }
  EXPECT_EQ(buckets, kSlots);
  EXPECT_NE(text.str().find("le=\"0\"} 2\n"), std::string::npos) << text.str();
}

TEST(Log2Export, OtlpExponentialHasOneBucketPerSlotInMicroseconds) {
  KernelHistogram h(kValues);
  const auto doc = nlohmann::json::parse(exporters::otlp_metrics_json(h.snap, {}, 5));
  const auto& m = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
  EXPECT_EQ(m["name"], "ksight_x_microseconds");
  EXPECT_EQ(m["unit"], "us");
  ASSERT_TRUE(m.contains("exponentialHistogram")) << m.dump();
  EXPECT_FALSE(m.contains("histogram"));
  const auto& eh = m["exponentialHistogram"];
  EXPECT_EQ(eh["aggregationTemporality"], 2);
  ASSERT_EQ(eh["dataPoints"].size(), 1u);
  const auto& p = eh["dataPoints"][0];
  EXPECT_EQ(p["scale"], 0);
  EXPECT_EQ(p["attributes"][0]["key"], "op");
  EXPECT_EQ(p["count"], std::to_string(kValues.size()));
  uint64_t sum = 0, zeros = 0;
  std::map<int, uint64_t> by_index;
  for (uint64_t v : kValues) {
    sum += v;
    if (v == 0) {
      ++zeros;
    } else {
      // Past the last finite slot: the next bucket (docs/fidelity.md).
      ++by_index[std::min(otel_index(v), static_cast<int>(kLast) - 2)];
    }
  }
  EXPECT_EQ(p["sum"], static_cast<double>(sum));  // whole microseconds, exactly
  EXPECT_EQ(p["zeroCount"], std::to_string(zeros));
  const int offset = p["positive"]["offset"];
  EXPECT_EQ(offset, -1);
  const auto& counts = p["positive"]["bucketCounts"];
  ASSERT_EQ(counts.size(), kSlots - 1);
  for (size_t i = 0; i < counts.size(); ++i) {
    const int index = offset + static_cast<int>(i);
    EXPECT_EQ(counts[i], std::to_string(by_index[index])) << "index " << index;
  }
}

TEST(Log2Export, OtlpExplicitFormKeepsThePrometheusBuckets) {
  KernelHistogram h(kValues);
  const auto doc = nlohmann::json::parse(
      exporters::otlp_metrics_json(h.snap, {}, 5, exporters::OtlpHistograms::explicit_bounds));
  const auto& m = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
  EXPECT_EQ(m["name"], "ksight_x_seconds");
  EXPECT_EQ(m["unit"], "s");
  ASSERT_TRUE(m.contains("histogram")) << m.dump();
  const auto& p = m["histogram"]["dataPoints"][0];
  EXPECT_EQ(p["explicitBounds"].get<std::vector<double>>(), core::log2_bounds(kSlots, 1e-6));
  const auto& counts = h.series().buckets;
  ASSERT_EQ(p["bucketCounts"].size(), counts.size());
  for (size_t i = 0; i < counts.size(); ++i)
    EXPECT_EQ(p["bucketCounts"][i], std::to_string(counts[i]));
}

TEST(Log2Export, OnlyLog2HistogramsBecomeExponential) {
  core::Registry reg;
  auto id = reg.add({.name = "ksight_y_seconds",
                     .help = "Y.",
                     .kind = core::MetricKind::histogram,
                     .bounds = {0.1, 1}});
  reg.write(1).observe(id, std::span<const std::string_view>(), 0.5);
  const auto doc = nlohmann::json::parse(exporters::otlp_metrics_json(reg.collect(2), {}, 5));
  const auto& m = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
  EXPECT_EQ(m["name"], "ksight_y_seconds");
  EXPECT_TRUE(m.contains("histogram"));
}

TEST(Log2Export, TracePrintsTheSlotsRanges) {
  KernelHistogram h({0, 1, 3, 4, 5, 8, 8, 9, (1u << 26) + 1});
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buf, &size);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(cli::print_log2_histograms(out, h.snap, "ksight_x_seconds"), 1u);
  std::fclose(out);
  std::istringstream text(std::string(buf, size));
  std::free(buf);
  // "lo -> hi : count |bar|", every range as the slot holds it.
  std::map<std::string, unsigned long long> rows;
  std::string line;
  while (std::getline(text, line)) {
    unsigned long long lo = 0, count = 0;
    char hi[32] = {};
    if (std::sscanf(line.c_str(), " %llu -> %31s : %llu", &lo, hi, &count) == 3)
      rows[std::to_string(lo) + "-" + hi] = count;
  }
  const std::map<std::string, unsigned long long> want = {{"0-0", 1},
                                                          {"1-1", 1},
                                                          {"2-2", 0},
                                                          {"3-4", 2},
                                                          {"5-8", 3},
                                                          {"9-16", 1},
                                                          {"17-32", 0},
                                                          {"33-64", 0},
                                                          {"65-128", 0},
                                                          {"129-256", 0},
                                                          {"257-512", 0},
                                                          {"513-1024", 0},
                                                          {"1025-2048", 0},
                                                          {"2049-4096", 0},
                                                          {"4097-8192", 0},
                                                          {"8193-16384", 0},
                                                          {"16385-32768", 0},
                                                          {"32769-65536", 0},
                                                          {"65537-131072", 0},
                                                          {"131073-262144", 0},
                                                          {"262145-524288", 0},
                                                          {"524289-1048576", 0},
                                                          {"1048577-2097152", 0},
                                                          {"2097153-4194304", 0},
                                                          {"4194305-8388608", 0},
                                                          {"8388609-16777216", 0},
                                                          {"16777217-33554432", 0},
                                                          {"33554433-67108864", 0},
                                                          {"67108865-inf", 1}};
  EXPECT_EQ(rows, want);
}

}  // namespace
}  // namespace ksight
