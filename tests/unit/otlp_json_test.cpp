// The direct OTLP/JSON metrics writer against the nlohmann DOM encoder it
// replaced, byte for byte on the same snapshot. The reference knows only
// explicit-bound histograms, so these compare the explicit form (the
// exponential form is checked in log2_hist_test.cpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "export/otlp.h"
#include "export_snapshots.h"
#include "support/reference_exporters.h"

namespace ksight::exporters {
namespace {

const OtlpResource kResource{
    {{"service.name", "ksight"}, {"host.name", "node \"1\"\\\n\x01"}, {"k", "caf\xC3\xA9"}}};

TEST(OtlpJson, ByteIdenticalToDomEncoderOnVariedSnapshot) {
  auto snap = testing::varied_snapshot();
  std::string ours = otlp_metrics_json(snap, kResource, 1'700'000'000'123'456'789,
                                       OtlpHistograms::explicit_bounds);
  EXPECT_EQ(ours, reference::otlp_metrics_json(snap, kResource, 1'700'000'000'123'456'789));
  auto doc = nlohmann::json::parse(ours);
  const auto& metrics = doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
  // The empty family is left out; the rest are there, in order.
  EXPECT_EQ(metrics.size(), snap.size() - 1);
  EXPECT_EQ(metrics[0]["name"], "ksight_test_events_total");
  EXPECT_NE(ours.find("\"k8s.deployment.name\""), std::string::npos);
  EXPECT_NE(ours.find("\\b\\f\\u0001\\u001f"), std::string::npos);
}

TEST(OtlpJson, ByteIdenticalOnRandomValues) {
  auto vals = testing::tricky_values();
  auto more = testing::random_values(4000, 61);
  vals.insert(vals.end(), more.begin(), more.end());
  auto snap = testing::values_snapshot(vals);
  EXPECT_EQ(otlp_metrics_json(snap, kResource, 5, OtlpHistograms::explicit_bounds),
            reference::otlp_metrics_json(snap, kResource, 5));
}

TEST(OtlpJson, EmptySnapshot) {
  EXPECT_EQ(otlp_metrics_json({}, {}, 1, OtlpHistograms::explicit_bounds),
            reference::otlp_metrics_json({}, {}, 1));
}

TEST(OtlpJson, InvalidUtf8InResourceStillParses) {
  OtlpResource bad{{{"host.name",
                     "a\xff"
                     "b\xC3"}}};
  std::string out = otlp_metrics_json(testing::varied_snapshot(), bad, 1);
  auto doc = nlohmann::json::parse(out);
  EXPECT_EQ(doc["resourceMetrics"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ksight::exporters
