#include "support/reference_exporters.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "version.h"

namespace ksight::reference {

namespace {

using nlohmann::json;

std::vector<prometheus::MetricFamily> to_prometheus(const std::vector<core::FamilySnapshot>& snap) {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(snap.size());
  for (const auto& fam : snap) {
    const core::MetricDesc& d = *fam.desc;
    prometheus::MetricFamily mf;
    mf.name = d.name;
    mf.help = d.help;
    switch (d.kind) {
      case core::MetricKind::counter:
        mf.type = prometheus::MetricType::Counter;
        break;
      case core::MetricKind::gauge:
        mf.type = prometheus::MetricType::Gauge;
        break;
      case core::MetricKind::histogram:
        mf.type = prometheus::MetricType::Histogram;
        break;
    }
    for (const auto& s : fam.series) {
      prometheus::ClientMetric m;
      for (size_t i = 0; i < d.label_names.size(); ++i)
        m.label.push_back({d.label_names[i], s.labels[i]});
      if (d.kind == core::MetricKind::counter) m.counter.value = s.value;
      if (d.kind == core::MetricKind::gauge) m.gauge.value = s.value;
      if (d.kind == core::MetricKind::histogram) {
        m.histogram.sample_count = s.count;
        m.histogram.sample_sum = s.sum;
        uint64_t cumulative = 0;
        for (size_t i = 0; i < s.buckets.size(); ++i) {
          cumulative += s.buckets[i];
          double le = i < d.bounds.size() ? d.bounds[i] : std::numeric_limits<double>::infinity();
          m.histogram.bucket.push_back({cumulative, le});
        }
      }
      mf.metric.push_back(std::move(m));
    }
    out.push_back(std::move(mf));
  }
  return out;
}

json attributes(const std::vector<std::pair<std::string, std::string>>& kv) {
  json out = json::array();
  for (const auto& [k, v] : kv) out.push_back({{"key", k}, {"value", {{"stringValue", v}}}});
  return out;
}

json series_attributes(const core::MetricDesc& d, const core::SeriesSnapshot& s) {
  json out = json::array();
  std::string_view kind;
  for (size_t i = 0; i < d.label_names.size() && i < s.labels.size(); ++i) {
    if (d.label_names[i] == "workload_kind") kind = s.labels[i];
  }
  for (size_t i = 0; i < d.label_names.size() && i < s.labels.size(); ++i) {
    std::string key = exporters::otel_attribute_name(d.label_names[i], kind);
    if (key != d.label_names[i] && s.labels[i].empty()) continue;
    out.push_back({{"key", std::move(key)}, {"value", {{"stringValue", s.labels[i]}}}});
  }
  return out;
}

std::string unit_of(const std::string& name) {
  auto has = [&](std::string_view suffix) { return name.find(suffix) != std::string::npos; };
  if (has("_seconds")) return "s";
  if (has("_bytes")) return "By";
  return "1";
}

}  // namespace

std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap) {
  return prometheus::TextSerializer().Serialize(to_prometheus(snap));
}

std::string otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const exporters::OtlpResource& resource, uint64_t now_unix_ns) {
  json metrics = json::array();
  const std::string now = std::to_string(now_unix_ns);
  for (const auto& fam : families) {
    if (fam.series.empty()) continue;
    const core::MetricDesc& d = *fam.desc;
    json points = json::array();
    for (const auto& s : fam.series) {
      json p = {{"attributes", series_attributes(d, s)},
                {"startTimeUnixNano", std::to_string(core::mono_to_unix_ns(s.start_mono_ns))},
                {"timeUnixNano", now}};
      if (d.kind == core::MetricKind::histogram) {
        json counts = json::array();
        for (auto c : s.buckets) counts.push_back(std::to_string(c));
        p["count"] = std::to_string(s.count);
        p["sum"] = s.sum;
        p["bucketCounts"] = std::move(counts);
        p["explicitBounds"] = d.bounds;
      } else {
        p["asDouble"] = s.value;
      }
      points.push_back(std::move(p));
    }
    json m = {{"name", d.name}, {"description", d.help}, {"unit", unit_of(d.name)}};
    switch (d.kind) {
      case core::MetricKind::counter:
        m["sum"] = {{"aggregationTemporality", 2}, {"isMonotonic", true}, {"dataPoints", points}};
        break;
      case core::MetricKind::gauge:
        m["gauge"] = {{"dataPoints", points}};
        break;
      case core::MetricKind::histogram:
        m["histogram"] = {{"aggregationTemporality", 2}, {"dataPoints", points}};
        break;
    }
    metrics.push_back(std::move(m));
  }
  json doc = {
      {"resourceMetrics",
       json::array({{{"resource", {{"attributes", attributes(resource.attributes)}}},
                     {"scopeMetrics",
                      json::array({{{"scope", {{"name", "ksight"}, {"version", KSIGHT_VERSION}}},
                                    {"metrics", std::move(metrics)}}})}}})}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace ksight::reference
