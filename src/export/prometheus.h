#pragma once
// Prometheus exposition through prometheus-cpp: the registry is presented as
// a Collectable, so every scrape reads fresh values (and runs the registry's
// refreshers, which read the BPF maps) with no second copy of the metrics.
#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "core/registry.h"

namespace prometheus {
class Exposer;
}

namespace ksight::exporters {

std::vector<prometheus::MetricFamily> to_prometheus(const std::vector<core::FamilySnapshot>& snap);

// The text exposition format of a snapshot (what /metrics serves).
std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap);

class RegistryCollectable final : public prometheus::Collectable {
 public:
  explicit RegistryCollectable(core::Registry& reg) : reg_(reg) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  core::Registry& reg_;
};

// Serves /metrics on `listen` (ADDRESS:PORT) until destroyed.
class MetricsServer {
 public:
  // Throws std::runtime_error with a readable message when it cannot listen.
  MetricsServer(const std::string& listen, core::Registry& reg);
  ~MetricsServer();
  // The port actually bound (useful with port 0).
  int port() const;

 private:
  std::shared_ptr<RegistryCollectable> collectable_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace ksight::exporters
