#pragma once
// open probe, user-space half: the decoder (no libbpf, unit-tested on its own)
// and the factory the probe table calls.
#include "probes/probe.h"

namespace ksight::probes {

class OpenDecoder {
 public:
  explicit OpenDecoder(core::Registry& reg);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);

 private:
  core::FamilyId opens_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_open_probe(const LoadRequest& req,
                                                                     core::Registry& reg);

}  // namespace ksight::probes
