#pragma once
// cgroupnet probe, user-space half: reads the per-cgroup byte and packet
// counters the cgroup_skb programs keep, at scrape time. No records.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class CgroupnetDecoder {
 public:
  CgroupnetDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId bytes_, packets_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_cgroupnet_probe(const LoadRequest& req,
                                                                          core::Registry& reg);

}  // namespace ksight::probes
