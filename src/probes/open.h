#pragma once
// open probe, user-space half: the decoder, which reads the kernel's counts
// at refresh and decodes records, and the factory the probe table calls.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class OpenDecoder {
 public:
  OpenDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId opens_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_open_probe(const LoadRequest& req,
                                                                     core::Registry& reg);

}  // namespace ksight::probes
