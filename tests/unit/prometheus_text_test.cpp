// The direct text exposition writer against prometheus-cpp's serializer
// (the encoder /metrics used before), byte for byte on the same snapshot.
#include <gtest/gtest.h>

#include "core/clock.h"
#include "export/prometheus.h"
#include "export_snapshots.h"
#include "support/reference_exporters.h"

namespace ksight::exporters {
namespace {

TEST(PrometheusText, ByteIdenticalToPrometheusCppOnVariedSnapshot) {
  auto snap = testing::varied_snapshot();
  std::string ours = prometheus_text(snap);
  EXPECT_EQ(ours, reference::prometheus_text(snap));
  // The corners were really there.
  EXPECT_NE(ours.find("quo\\\"te"), std::string::npos);
  EXPECT_NE(ours.find("new\\nline"), std::string::npos);
  EXPECT_NE(ours.find(" Nan\n"), std::string::npos);
  EXPECT_NE(ours.find(" -Inf\n"), std::string::npos);
  EXPECT_NE(ours.find("le=\"+Inf\""), std::string::npos);
  EXPECT_NE(ours.find("ksight_test_up 1\n"), std::string::npos);
}

TEST(PrometheusText, ByteIdenticalOnRandomValues) {
  auto vals = testing::tricky_values();
  auto more = testing::random_values(10000, 16);
  vals.insert(vals.end(), more.begin(), more.end());
  auto snap = testing::values_snapshot(vals);
  EXPECT_EQ(prometheus_text(snap), reference::prometheus_text(snap));
}

TEST(PrometheusText, ByteIdenticalOnRegistrySnapshotWithSanitizedLabels) {
  core::Registry reg;
  auto c = reg.add({.name = "ksight_x_total", .help = "X.", .label_names = {"comm", "path"}});
  auto h = reg.add({.name = "ksight_y_seconds",
                    .help = "Y.",
                    .kind = core::MetricKind::histogram,
                    .label_names = {"comm"},
                    .bounds = core::log2_bounds(8, 1e-6)});
  {
    auto w = reg.write(core::mono_ns());
    w.add(c, {"\xff\xfe", "a\"b\\c\nd"}, 3);
    w.add(c, {"ok", "/x"}, 0.25);
    w.observe(h, {"\xC3"}, 3e-6);
    w.observe(h, {"b"}, 1.0);
  }
  auto snap = reg.collect(core::mono_ns());
  EXPECT_EQ(prometheus_text(snap), reference::prometheus_text(snap));
}

TEST(PrometheusText, AppendsToAReusedBuffer) {
  auto snap = testing::varied_snapshot();
  std::string buf = "keep:";
  append_prometheus_text(snap, buf);
  EXPECT_EQ(buf, "keep:" + reference::prometheus_text(snap));
  EXPECT_EQ(prometheus_text({}), "");
}

}  // namespace
}  // namespace ksight::exporters
