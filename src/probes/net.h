#pragma once
// What the network probes' user-space halves share: TCP state names, the
// 4-tuple as event fields, and reading the per-CPU, per-key maps the kernel
// aggregates into.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/registry.h"
#include "ksight/abi/net.h"
#include "probes/kernel_maps.h"

namespace ksight::probes {

// "established", "syn_sent", ... for the Linux TCP state numbers
// (include/net/tcp_states.h); "none" for 0 (no socket), "unknown" past the end.
std::string_view tcp_state_name(uint32_t state);

// Text of a tuple's addresses; the event fields point into it, so it must
// outlive the EventView's use (decoders keep one as a member).
struct TupleText {
  char saddr[INET6_ADDRSTRLEN] = {};
  char daddr[INET6_ADDRSTRLEN] = {};
};

// Adds family, saddr, sport, daddr, dport to `ev`.
void add_tuple(core::EventView& ev, TupleText& text, const ksight_tuple& t);

// Creates the zeroed entry of cgroup id 0 that the kernel side folds cgroups
// into once a per-cgroup map is full.
template <class Value>
void create_cgroup_zero(bpf_map* m) {
  int cpus = libbpf_num_possible_cpus();
  if (!m || cpus <= 0) return;
  std::vector<Value> zero(static_cast<size_t>(cpus));
  uint64_t key = 0;
  bpf_map__update_elem(m, &key, sizeof(key), zero.data(), zero.size() * sizeof(Value), BPF_NOEXIST);
}

// Sets histogram `family` (labels: cgroup_id) from a per-CPU map of
// ksight_log2_hist keyed by cgroup id, as runqlat does.
void refresh_cgroup_histograms(core::Registry::Writer& w, core::FamilyId family, bpf_map* m);

}  // namespace ksight::probes
