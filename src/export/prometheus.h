#pragma once
// Prometheus exposition: registry snapshots as prometheus-cpp MetricFamily
// values, serialized by prometheus-cpp's text serializer. The HTTP side is
// export/http_server.h.
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/registry.h"

namespace ksight::exporters {

std::vector<prometheus::MetricFamily> to_prometheus(const std::vector<core::FamilySnapshot>& snap);

// The text exposition format of a snapshot (what /metrics serves).
std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap);

}  // namespace ksight::exporters
