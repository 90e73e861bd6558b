#pragma once
// exec probe, user-space half: the decoder (no libbpf, unit-tested on its own)
// and the factory the probe table calls.
#include <string>

#include "probes/probe.h"

struct ksight_exec_event;

namespace ksight::probes {

class ExecDecoder {
 public:
  explicit ExecDecoder(core::Registry& reg);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);

 private:
  core::FamilyId execs_;
  std::string args_;  // scratch for the joined argv, reused across events
};

std::expected<std::unique_ptr<Probe>, std::string> create_exec_probe(const LoadRequest& req,
                                                                     core::Registry& reg);

}  // namespace ksight::probes
