#include "export/prometheus.h"

#include <prometheus/text_serializer.h>

#include <limits>

namespace ksight::exporters {

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

std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap) {
  return prometheus::TextSerializer().Serialize(to_prometheus(snap));
}

}  // namespace ksight::exporters
