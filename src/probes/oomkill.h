#pragma once
// oomkill probe, user-space half: reads the kernel's count of OOM kills by
// cgroup, and decodes the kill records (victim, memory figures).
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class OomkillDecoder {
 public:
  OomkillDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId kills_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_oomkill_probe(const LoadRequest& req,
                                                                        core::Registry& reg);

}  // namespace ksight::probes
