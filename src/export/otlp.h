#pragma once
// OTLP in its OTLP/HTTP JSON encoding: ExportMetricsServiceRequest built from
// registry snapshots (cumulative sums, gauges, explicit-bound and exponential
// histograms), and
// ExportLogsServiceRequest built from events, one log record per event.
// JSON rules: lowerCamelCase keys, enums as integers, 64-bit integers as
// decimal strings, Unix-epoch nanosecond timestamps.
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/event.h"
#include "core/registry.h"

namespace ksight::exporters {

struct OtlpResource {
  std::vector<std::pair<std::string, std::string>> attributes;
  // service.name=ksight, service.version, host.name.
  static OtlpResource for_this_host();
};

// The OpenTelemetry attribute for a metric label: identity labels under the
// semantic conventions (namespace -> k8s.namespace.name, container_id ->
// container.id, workload -> k8s.deployment.name when `workload_kind` is
// Deployment...), every other label as it is.
std::string otel_attribute_name(std::string_view label, std::string_view workload_kind);

// How OTLP carries the histograms the kernel bucketed in log2 slots
// (MetricDesc::log2_unit; config `otlp.histograms`). exponential: an
// ExponentialHistogram at scale 0 in the kernel's unit, one bucket per slot,
// named with that unit (ksight_tcp_rtt_seconds -> ksight_tcp_rtt_microseconds,
// unit "us"), since a power of two of microseconds is no power of two of
// seconds; zeroCount is slot 0, positive.offset -1, and the +Inf slot is the
// bucket after the last finite one (docs/fidelity.md). explicit_bounds: the
// explicit-bound histogram Prometheus gets too. Other histograms are always
// explicit.
enum class OtlpHistograms { exponential, explicit_bounds };

std::string otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const OtlpResource& resource, uint64_t now_unix_ns,
                              OtlpHistograms histograms = OtlpHistograms::exponential);
// The same, appended to `out` (a buffer the caller reuses).
void append_otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const OtlpResource& resource, uint64_t now_unix_ns, std::string& out,
                              OtlpHistograms histograms = OtlpHistograms::exponential);
// The name of a log2 histogram in the exponential form: the "_seconds" of the
// Prometheus name replaced by the kernel's unit ("_microseconds" for "us").
std::string exponential_histogram_name(const core::MetricDesc& d);

// Collects events as OTLP log records between two exports, up to a byte
// bound; records past it are dropped and counted.
class OtlpLogBuffer final : public core::EventSink {
 public:
  explicit OtlpLogBuffer(size_t max_bytes) : max_bytes_(max_bytes) {}
  void on_event(const core::EventView& ev) override;
  // The ExportLogsServiceRequest for everything collected since the last
  // call, or an empty string when there was nothing. `taken`, when given,
  // gets its events by probe, to settle() once the document's fate is known.
  std::string take_json(const OtlpResource& resource, core::ProbeCounts* taken = nullptr);
  uint64_t dropped() const;
  // The ledger: events dropped at this buffer's bound, and those of taken
  // documents once delivered, dropped or failed further on.
  void settle(const core::ProbeCounts& events, core::SinkOutcome outcome);
  std::string_view ledger_name() const override { return "otlp_logs"; }
  core::SinkLedger ledger() const override;

 private:
  mutable std::mutex mu_;
  size_t max_bytes_;
  std::string records_;  // comma-joined logRecords
  std::string scratch_;
  uint64_t dropped_ = 0;
  core::ProbeCounts pending_;      // events in records_, by probe
  core::ProbeCounts outstanding_;  // taken, not settled yet (an exporter holds them)
  core::SinkLedger ledger_;
};

}  // namespace ksight::exporters
