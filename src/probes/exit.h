#pragma once
// exit probe, user-space half: the decoder (no libbpf, unit-tested on its own)
// and the factory the probe table calls.
#include "probes/probe.h"

namespace ksight::probes {

class ExitDecoder {
 public:
  explicit ExitDecoder(core::Registry& reg);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);

 private:
  core::FamilyId exits_, lifetime_;
  char code_buf_[8];
};

std::expected<std::unique_ptr<Probe>, std::string> create_exit_probe(const LoadRequest& req,
                                                                     core::Registry& reg);

}  // namespace ksight::probes
