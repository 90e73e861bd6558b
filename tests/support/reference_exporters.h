#pragma once
// The exporters as they were before they wrote text straight from the
// snapshot (issue 16): prometheus-cpp's MetricFamily + TextSerializer, and an
// nlohmann DOM for OTLP/JSON. Kept only as the reference the fast encoders
// must match byte for byte (unit tests) and beat (bench/microbench.cpp).
#include <cstdint>
#include <string>
#include <vector>

#include "core/registry.h"
#include "export/otlp.h"

namespace ksight::reference {

std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap);

std::string otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const exporters::OtlpResource& resource, uint64_t now_unix_ns);

}  // namespace ksight::reference
