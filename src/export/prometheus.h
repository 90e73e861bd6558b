#pragma once
// Prometheus exposition: registry snapshots written straight as the text
// format (version 0.0.4) into a caller's buffer, with no intermediate model.
// The bytes are those prometheus-cpp 1.0's TextSerializer writes for the same
// snapshot (tests/unit/prometheus_text_test.cpp keeps that encoder as the
// reference), so scrapers see no change. The HTTP side is export/http_server.h.
#include <string>
#include <vector>

#include "core/registry.h"

namespace ksight::exporters {

// Appends the text exposition format of `snap` to `out`. A caller that keeps
// `out` (or reserves what the last scrape took) writes without reallocating.
void append_prometheus_text(const std::vector<core::FamilySnapshot>& snap, std::string& out);

// The text exposition format of a snapshot (what /metrics serves).
std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap);

}  // namespace ksight::exporters
