// Draining the kernel's stack counts (stack_sets.h has the scheme).
#include "probes/stack_sets.h"

#include <bpf/bpf.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "ksight/abi/offcpu.h"
#include "ksight/abi/stacks.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

namespace {

constexpr const char* kStackMaps[] = {"ksight_stacks0", "ksight_stacks1"};
constexpr const char* kCountMaps[] = {"ksight_stack_counts0", "ksight_stack_counts1"};

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

void size_stack_maps(bpf_object* obj, bool stacks) {
  if (stacks) return;
  for (const char* name : {"ksight_stacks0", "ksight_stacks1", "ksight_stack_counts0",
                           "ksight_stack_counts1", "ksight_seen_pids"}) {
    if (bpf_map* m = bpf_object__find_map_by_name(obj, name)) bpf_map__set_max_entries(m, 1);
  }
}

std::expected<std::unique_ptr<StackSets>, std::string> StackSets::open(const LoadedObject& obj,
                                                                       profile::ProfileKind kind,
                                                                       uint64_t period_ns,
                                                                       bpf_map* in_progress) {
  std::unique_ptr<StackSets> sets(new StackSets());
  sets->kind_ = kind;
  sets->period_ns_ = period_ns;
  sets->in_progress_ = in_progress;
  for (int s = 0; s < 2; ++s) {
    sets->stacks_[s] = obj.map(kStackMaps[s]);
    sets->counts_[s] = obj.map(kCountMaps[s]);
    if (!sets->stacks_[s] || !sets->counts_[s])
      return std::unexpected(std::string("BPF object lacks the stack maps of stacks.bpf.h"));
  }
  sets->active_map_ = obj.map("ksight_stack_set");
  sets->barrier_ = obj.map("ksight_stack_barrier");
  if (!sets->active_map_ || !sets->barrier_)
    return std::unexpected(std::string("BPF object lacks ksight_stack_set or its barrier"));
  // Same type and sizes as the barrier's inner map declaration.
  sets->barrier_inner_ = bpf::Fd(bpf_map_create(BPF_MAP_TYPE_ARRAY, "ksight_barrier",
                                                sizeof(uint32_t), sizeof(uint32_t), 1, nullptr));
  if (!sets->barrier_inner_) return std::unexpected(errno_text("creating the stack barrier map"));
  return sets;
}

std::expected<void, std::string> StackSets::set_active(bool active) {
  const uint32_t slot = 1, paused = active ? 0 : 1;
  if (bpf_map__update_elem(active_map_, &slot, sizeof(slot), &paused, sizeof(paused), BPF_ANY) != 0)
    return std::unexpected(errno_text(active ? "resuming stack taking" : "pausing stack taking"));
  return {};
}

std::vector<uint64_t> StackSets::frames(uint32_t set, int32_t id) const {
  std::vector<uint64_t> out;
  if (id < 0) return out;
  std::array<uint64_t, KSIGHT_STACK_DEPTH> ips{};
  const auto key = static_cast<uint32_t>(id);
  if (bpf_map__lookup_elem(stacks_[set & 1], &key, sizeof(key), ips.data(), sizeof(ips), 0) != 0)
    return out;
  // Zero-terminated when shorter than the maximum depth.
  auto end = std::find(ips.begin(), ips.end(), uint64_t{0});
  out.assign(ips.begin(), end);
  return out;
}

std::vector<uint32_t> StackSets::still_referenced(uint32_t set) const {
  std::vector<uint32_t> ids;
  if (!in_progress_) return ids;  // profile: stacks and counts share a set
  auto add = [&](uint32_t stack_set, int32_t kernel_id, int32_t user_id) {
    if (stack_set != set) return;
    if (kernel_id >= 0) ids.push_back(static_cast<uint32_t>(kernel_id));
    if (user_id >= 0) ids.push_back(static_cast<uint32_t>(user_id));
  };
  // Blocks in progress first, then the counts of the active set: the kernel
  // adds a block's count before it deletes the block, so a block that ends
  // between the two walks is seen by one of them.
  for (uint32_t tid : map_keys<uint32_t>(in_progress_)) {
    ksight_offcpu_start start{};
    if (bpf_map__lookup_elem(in_progress_, &tid, sizeof(tid), &start, sizeof(start), 0) == 0)
      add(start.stack_set, start.kernel_stack_id, start.user_stack_id);
  }
  for (const auto& key : map_keys<ksight_stack_key>(counts_[1 - set]))
    add(key.stack_set, key.kernel_stack_id, key.user_stack_id);
  return ids;
}

std::expected<std::vector<profile::RawStack>, std::string> StackSets::drain_stacks() {
  std::lock_guard lock(drain_mu_);
  const uint32_t old_set = active_, new_set = 1 - active_, slot = 0;
  if (bpf_map__update_elem(active_map_, &slot, sizeof(slot), &new_set, sizeof(new_set), BPF_ANY) !=
      0)
    return std::unexpected(errno_text("switching the stack set"));
  active_ = new_set;
  // Returns once every program that may have read the old set has finished.
  const int inner = barrier_inner_.get();
  if (bpf_map__update_elem(barrier_, &slot, sizeof(slot), &inner, sizeof(inner), BPF_ANY) != 0)
    return std::unexpected(errno_text("waiting for the stack programs"));

  const auto keys = map_keys<ksight_stack_key>(counts_[old_set]);
  std::vector<profile::RawStack> out;
  out.reserve(keys.size());
  // Stacks are shared by many keys (one kernel stack, many processes).
  std::unordered_map<uint64_t, std::vector<uint64_t>> resolved;
  auto stack = [&](uint32_t set, int32_t id) -> const std::vector<uint64_t>& {
    const uint64_t cache_key = uint64_t{set} << 32 | static_cast<uint32_t>(id);
    auto it = resolved.find(cache_key);
    if (it == resolved.end()) it = resolved.emplace(cache_key, frames(set, id)).first;
    return it->second;
  };
  for (const auto& key : keys) {
    ksight_stack_value value{};
    if (bpf_map__lookup_elem(counts_[old_set], &key, sizeof(key), &value, sizeof(value), 0) != 0)
      continue;
    profile::RawStack raw;
    raw.pid = key.pid;
    raw.cgroup_id = key.cgroup_id;
    raw.comm = std::string(c_string(value.comm));
    raw.kernel_ips = stack(key.stack_set, key.kernel_stack_id);
    raw.user_ips = stack(key.stack_set, key.user_stack_id);
    raw.count = value.count;
    raw.value_ns = kind_ == profile::ProfileKind::cpu ? value.count * period_ns_ : value.value_ns;
    out.push_back(std::move(raw));
  }
  for (const auto& key : keys) bpf_map__delete_elem(counts_[old_set], &key, sizeof(key), 0);

  const auto kept = still_referenced(old_set);
  const std::unordered_set<uint32_t> keep(kept.begin(), kept.end());
  for (uint32_t id : map_keys<uint32_t>(stacks_[old_set]))
    if (!keep.contains(id)) bpf_map__delete_elem(stacks_[old_set], &id, sizeof(id), 0);
  return out;
}

void StackSets::set_new_process_callback(std::function<void(uint32_t)> on_new_process) {
  std::lock_guard lock(callback_mu_);
  on_new_process_ = std::move(on_new_process);
}

std::optional<uint32_t> parse_new_process(std::span<const std::byte> rec, std::string_view probe,
                                          core::EventView* ev) {
  const auto* e = record_as<ksight_new_process_event>(rec);
  if (!e) return std::nullopt;
  if (ev) {
    fill_header(*ev, probe, e->hdr);
    ev->add_str("event", "new_process");
    ev->internal = true;  // the symbolizer's business, not the sinks'
  }
  return e->hdr.pid;
}

bool StackSets::decode_new_process(std::span<const std::byte> rec, std::string_view probe,
                                   core::EventView* ev) {
  auto pid = parse_new_process(rec, probe, ev);
  if (!pid) return false;
  std::lock_guard lock(callback_mu_);
  if (on_new_process_) on_new_process_(*pid);
  return true;
}

}  // namespace ksight::probes
