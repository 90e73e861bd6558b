#pragma once
// runqlat probe, user-space half: reads the per-cgroup log2 histograms the
// kernel keeps into ksight_runqueue_latency_seconds at scrape time. No events.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class RunqlatDecoder {
 public:
  RunqlatDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId latency_;
};

// `d` as the histogram of a kernel log2 histogram in microseconds, exported
// in seconds (shared encoding: include/ksight/abi/hist.h): its bounds, and
// what OTLP's exponential form needs.
core::MetricDesc log2_us_histogram(core::MetricDesc d);

std::expected<std::unique_ptr<Probe>, std::string> create_runqlat_probe(const LoadRequest& req,
                                                                        core::Registry& reg);

}  // namespace ksight::probes
