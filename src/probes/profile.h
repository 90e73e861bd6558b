#pragma once
// profile probe, user-space half: drains the kernel's on-CPU sample counts
// (per cgroup and process, user and kernel mode) into counters. No events.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class ProfileDecoder {
 public:
  ProfileDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId by_cgroup_, by_process_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_profile_probe(const LoadRequest& req,
                                                                        core::Registry& reg);

}  // namespace ksight::probes
