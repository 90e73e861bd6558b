#pragma once
// profile probe, user-space half: drains the kernel's on-CPU sample counts
// (per cgroup and process, user and kernel mode) into counters. Loaded with
// LoadRequest::stacks, it also counts stacks (a StackSource) and emits one
// record per new process (StackSource::set_new_process_callback).
#include <memory>

#include "probes/probe.h"
#include "probes/stack_sets.h"

namespace ksight::probes {

class LoadedObject;

class ProfileDecoder {
 public:
  // `stacks`: the drain of the stack counts, when the probe takes stacks.
  ProfileDecoder(core::Registry& reg, LoadedObject& obj, std::unique_ptr<StackSets> stacks);
  // The only record: a process sampled for the first time (stacks on).
  bool decode(std::span<const std::byte> rec, core::Registry::Writer&, core::EventView* ev) {
    // Without stacks no such record is sent; one that comes is still checked.
    return stacks_ ? stacks_->decode_new_process(rec, "profile", ev)
                   : parse_new_process(rec, "profile", ev).has_value();
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);
  StackSource* stack_source() { return stacks_.get(); }

 private:
  core::FamilyId by_cgroup_, by_process_;
  std::unique_ptr<StackSets> stacks_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_profile_probe(const LoadRequest& req,
                                                                        core::Registry& reg);

}  // namespace ksight::probes
