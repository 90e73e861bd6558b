#pragma once
// offcpu probe, user-space half: time off the CPU per cgroup (counters, from
// a per-CPU map emptied at every read) and, loaded with LoadRequest::stacks,
// per stack (a StackSource of kind offcpu) with one record per new process.
#include <memory>

#include "probes/probe.h"
#include "probes/stack_sets.h"

namespace ksight::probes {

class LoadedObject;

class OffcpuDecoder {
 public:
  OffcpuDecoder(core::Registry& reg, LoadedObject& obj, std::unique_ptr<StackSets> stacks);
  // The only record: a process seen blocking for the first time (stacks on).
  bool decode(std::span<const std::byte> rec, core::Registry::Writer&, core::EventView* ev) {
    return stacks_ ? stacks_->decode_new_process(rec, "offcpu", ev)
                   : parse_new_process(rec, "offcpu", ev).has_value();
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);
  StackSource* stack_source() { return stacks_.get(); }

 private:
  core::FamilyId seconds_, blocks_;
  std::unique_ptr<StackSets> stacks_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_offcpu_probe(const LoadRequest& req,
                                                                       core::Registry& reg);

}  // namespace ksight::probes
