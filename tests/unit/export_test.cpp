// Both export formats over one small registry: the Prometheus text exactly
// (golden), the OTLP JSON by the rules its encoding sets.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/registry.h"
#include "export/jsonlines.h"
#include "export/otlp.h"
#include "export/prometheus.h"

namespace ksight::exporters {
namespace {

using core::MetricKind;

struct Fixture {
  core::Registry reg;
  Fixture() {
    auto execs =
        reg.add({.name = "ksight_process_execs_total", .help = "Execs.", .label_names = {"comm"}});
    auto up = reg.add({.name = "ksight_probe_up",
                       .help = "Up.",
                       .kind = MetricKind::gauge,
                       .label_names = {"probe", "attach"}});
    auto life = reg.add({.name = "ksight_process_lifetime_seconds",
                         .help = "Lifetime.",
                         .kind = MetricKind::histogram,
                         .bounds = {0.01, 1}});
    auto w = reg.write(core::mono_ns());
    w.add(execs, {"true"}, 500);
    w.add(execs, {"we\"ird\\"}, 1);
    w.set(up, {"exec", "tp_btf"}, 1);
    for (double v : {0.001, 0.5, 2.0}) w.observe(life, {}, v);
  }
};

TEST(Prometheus, GoldenText) {
  Fixture f;
  std::string text = prometheus_text(f.reg.collect(core::mono_ns()));
  const char* expected =
      "# HELP ksight_series_overflow_total Updates folded into a metric's overflow series because "
      "the metric reached its series cap.\n"
      "# TYPE ksight_series_overflow_total counter\n"
      "# HELP ksight_process_execs_total Execs.\n"
      "# TYPE ksight_process_execs_total counter\n"
      "ksight_process_execs_total{comm=\"true\"} 500\n"
      "ksight_process_execs_total{comm=\"we\\\"ird\\\\\"} 1\n"
      "# HELP ksight_probe_up Up.\n"
      "# TYPE ksight_probe_up gauge\n"
      "ksight_probe_up{probe=\"exec\",attach=\"tp_btf\"} 1\n"
      "# HELP ksight_process_lifetime_seconds Lifetime.\n"
      "# TYPE ksight_process_lifetime_seconds histogram\n"
      "ksight_process_lifetime_seconds_count 3\n"
      "ksight_process_lifetime_seconds_sum 2.501\n"
      "ksight_process_lifetime_seconds_bucket{le=\"0.01\"} 1\n"
      "ksight_process_lifetime_seconds_bucket{le=\"1\"} 2\n"
      "ksight_process_lifetime_seconds_bucket{le=\"+Inf\"} 3\n";
  EXPECT_EQ(text, expected);
}

TEST(Otlp, MetricsFollowTheJsonEncodingRules) {
  Fixture f;
  uint64_t now_mono = core::mono_ns();
  auto doc = nlohmann::json::parse(otlp_metrics_json(
      f.reg.collect(now_mono), OtlpResource::for_this_host(), core::mono_to_unix_ns(now_mono)));
  const auto& rm = doc.at("resourceMetrics").at(0);
  EXPECT_EQ(rm.at("resource").at("attributes").at(0).at("key"), "service.name");
  const auto& metrics = rm.at("scopeMetrics").at(0).at("metrics");
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : metrics) by_name[m.at("name")] = m;
  // Families with no series are left out.
  EXPECT_FALSE(by_name.count("ksight_series_overflow_total"));

  const auto& execs = by_name.at("ksight_process_execs_total").at("sum");
  EXPECT_EQ(execs.at("aggregationTemporality"), 2);  // enum as integer: CUMULATIVE
  EXPECT_EQ(execs.at("isMonotonic"), true);
  const auto& p = execs.at("dataPoints").at(0);
  EXPECT_EQ(p.at("attributes").at(0).at("key"), "comm");
  EXPECT_EQ(p.at("asDouble"), 500.0);
  // 64-bit integers are decimal strings; times are Unix-epoch nanoseconds.
  ASSERT_TRUE(p.at("timeUnixNano").is_string());
  uint64_t t = std::stoull(p.at("timeUnixNano").get<std::string>());
  uint64_t start = std::stoull(p.at("startTimeUnixNano").get<std::string>());
  EXPECT_LE(start, t);
  EXPECT_NEAR(static_cast<double>(t), static_cast<double>(core::unix_ns()), 60e9);

  EXPECT_TRUE(by_name.at("ksight_probe_up").contains("gauge"));
  const auto& h = by_name.at("ksight_process_lifetime_seconds");
  EXPECT_EQ(h.at("unit"), "s");
  const auto& hp = h.at("histogram").at("dataPoints").at(0);
  ASSERT_EQ(hp.at("bucketCounts").size(), hp.at("explicitBounds").size() + 1);
  uint64_t total = 0;
  for (const auto& c : hp.at("bucketCounts")) total += std::stoull(c.get<std::string>());
  EXPECT_EQ(std::to_string(total), hp.at("count").get<std::string>());
}

core::EventView sample_event() {
  core::EventView ev;
  ev.probe = "exec";
  ev.time_unix_ns = 1'700'000'000'123'456'789ull;
  ev.pid = 42;
  ev.tid = 43;
  ev.comm = "b\xffsh";
  ev.cgroup_id = 7;
  ev.add_u64("ppid", 1);
  ev.add_i64("exit_code", -3);
  ev.add_str("args", "sh -c \"x\"\n");
  ev.add_f64("lifetime_s", 0.5);
  return ev;
}

TEST(JsonLines, OneValidObjectPerEvent) {
  std::string line;
  render_json_event(sample_event(), line);
  EXPECT_EQ(line,
            "{\"time\":\"2023-11-14T22:13:20.123456789Z\",\"probe\":\"exec\",\"pid\":42,\"tid\":43,"
            "\"comm\":\"b\\u00ffsh\",\"cgroup_id\":7,\"ppid\":1,\"exit_code\":-3,"
            "\"args\":\"sh -c \\\"x\\\"\\n\",\"lifetime_s\":0.5}");
  EXPECT_NO_THROW(nlohmann::json::parse(line));
}

TEST(Otlp, LogRecordsAndTheirBound) {
  OtlpLogBuffer buf(4096);
  EXPECT_EQ(buf.take_json(OtlpResource::for_this_host()), "");
  for (int i = 0; i < 100; ++i) buf.on_event(sample_event());
  EXPECT_GT(buf.dropped(), 0u);  // 100 records do not fit in 4 KiB
  auto doc = nlohmann::json::parse(buf.take_json(OtlpResource::for_this_host()));
  const auto& records = doc.at("resourceLogs").at(0).at("scopeLogs").at(0).at("logRecords");
  EXPECT_EQ(records.size() + buf.dropped(), 100u);
  const auto& r = records.at(0);
  EXPECT_EQ(r.at("timeUnixNano"), "1700000000123456789");
  EXPECT_EQ(r.at("severityNumber"), 9);
  EXPECT_EQ(r.at("body").at("stringValue"), "exec");
  std::map<std::string, nlohmann::json> attrs;
  for (const auto& a : r.at("attributes")) attrs[a.at("key")] = a.at("value");
  EXPECT_EQ(attrs.at("process.pid").at("intValue"), "42");
  EXPECT_EQ(attrs.at("ksight.exit_code").at("intValue"), "-3");
  EXPECT_EQ(attrs.at("ksight.lifetime_s").at("doubleValue"), 0.5);
  EXPECT_EQ(attrs.at("ksight.args").at("stringValue"), "sh -c \"x\"\n");
  // OTLP strings are text: the invalid byte of the comm is U+FFFD.
  EXPECT_EQ(attrs.at("process.command").at("stringValue"), "b\xEF\xBF\xBDsh");
  // Taken: the buffer starts over.
  EXPECT_EQ(buf.take_json(OtlpResource::for_this_host()), "");
}

}  // namespace
}  // namespace ksight::exporters
