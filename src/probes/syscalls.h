#pragma once
// syscalls probe, user-space half: reads the per-cgroup, per-syscall counts,
// failures and latency the kernel keeps, naming syscalls for this
// architecture. No events.
#include <string>
#include <vector>

#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class SyscallsDecoder {
 public:
  SyscallsDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  const std::string& name_of(uint32_t nr);

  core::FamilyId calls_, errors_, latency_;
  core::FamilyId per_process_ = 0;
  bool per_process_on_ = false;
  std::vector<std::string> names_;  // by syscall number, filled on first use
};

std::expected<std::unique_ptr<Probe>, std::string> create_syscalls_probe(const LoadRequest& req,
                                                                         core::Registry& reg);

}  // namespace ksight::probes
