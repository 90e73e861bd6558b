#pragma once
// tcprtt probe, user-space half: reads the per-cgroup smoothed-RTT histograms
// the kernel keeps into ksight_tcp_rtt_seconds at scrape time. No records.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class TcprttDecoder {
 public:
  TcprttDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId rtt_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_tcprtt_probe(const LoadRequest& req,
                                                                       core::Registry& reg);

}  // namespace ksight::probes
