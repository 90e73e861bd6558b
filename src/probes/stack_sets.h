#pragma once
// The user-space half of bpf/include/stacks.bpf.h: the StackSource of the
// profile and offcpu probes. The kernel writes one of two sets of (stack map,
// counts map), the one ksight_stack_set names. drain_stacks() flips it,
// updates a map-in-map so the kernel waits for every program still running
// with the old value (synchronize_rcu()), and only then reads and clears the
// old set: no sample lands in a set while it is read, and none is lost.
//
// offcpu stacks are taken when a task blocks and counted when it wakes,
// perhaps drains later: such a block is counted in the set active at
// wake-up, with a key naming the set that holds its stacks. A drain therefore
// keeps the old set's stacks that blocks still in progress, or counted since
// in the other set, refer to; the rest is deleted, so stack maps hold only
// what is current.
#include <bpf/libbpf.h>

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bpf/handles.h"
#include "core/event.h"
#include "probes/probe.h"
#include "profile/stack_profile.h"

namespace ksight::probes {

class LoadedObject;

// Before load: the stack maps and counts of stacks.bpf.h at one entry each
// when `stacks` is off, so a probe without stacks costs nothing for them.
void size_stack_maps(bpf_object* obj, bool stacks);

// A ksight_new_process_event: its pid, and `ev` (when non-null) filled as an
// internal record; nullopt when malformed.
std::optional<uint32_t> parse_new_process(std::span<const std::byte> rec, std::string_view probe,
                                          core::EventView* ev);

class StackSets final : public StackSource {
 public:
  // The maps of stacks.bpf.h in `obj`. `in_progress`: offcpu's map of blocked
  // threads (tid -> ksight_offcpu_start), whose stacks a drain keeps.
  static std::expected<std::unique_ptr<StackSets>, std::string> open(
      const LoadedObject& obj, profile::ProfileKind kind, uint64_t period_ns,
      bpf_map* in_progress = nullptr);

  std::expected<std::vector<profile::RawStack>, std::string> drain_stacks() override;
  void set_new_process_callback(std::function<void(uint32_t)> on_new_process) override;
  std::expected<void, std::string> set_active(bool active) override;
  profile::ProfileKind kind() const override { return kind_; }
  uint64_t period_ns() const override { return period_ns_; }

  // Decodes a ksight_new_process_event: calls the callback, fills `ev` (when
  // non-null) with the header and event=new_process. False when malformed.
  bool decode_new_process(std::span<const std::byte> rec, std::string_view probe,
                          core::EventView* ev);

 private:
  StackSets() = default;
  // The frames of stack `id` in set `set`, leaf first; empty for id < 0.
  std::vector<uint64_t> frames(uint32_t set, int32_t id) const;
  // Stack ids of set `set` something still refers to (offcpu).
  std::vector<uint32_t> still_referenced(uint32_t set) const;

  profile::ProfileKind kind_ = profile::ProfileKind::cpu;
  uint64_t period_ns_ = 0;
  bpf_map* stacks_[2] = {};
  bpf_map* counts_[2] = {};
  bpf_map* active_map_ = nullptr;
  bpf_map* barrier_ = nullptr;
  bpf_map* in_progress_ = nullptr;
  bpf::Fd barrier_inner_;  // what the barrier's one slot is updated with

  std::mutex drain_mu_;  // one drain at a time; guards active_
  uint32_t active_ = 0;
  std::mutex callback_mu_;
  std::function<void(uint32_t)> on_new_process_;
};

}  // namespace ksight::probes
