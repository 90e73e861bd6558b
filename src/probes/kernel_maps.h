#pragma once
// Reading what probes aggregate in per-CPU BPF maps: walk the keys, fetch one
// value per possible CPU, and add them up. Written once for every probe that
// keeps counters or histograms in the kernel.
#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "ksight/abi/hist.h"

namespace ksight::probes {

inline size_t possible_cpus() {
  int n = libbpf_num_possible_cpus();
  return n > 0 ? static_cast<size_t>(n) : 1;
}

// Calls fn(key, values) for every key of a per-CPU map, `values` holding one
// Value per possible CPU. With erase, each key is deleted once read, so the
// map only ever holds what happened since the last read (the caller adds the
// values up instead of setting them).
// Every key of a map. Collected before anything is deleted: deleting while
// walking restarts the walk.
template <class Key>
std::vector<Key> map_keys(bpf_map* map) {
  std::vector<Key> keys;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof(Key)) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  return keys;
}

template <class Key, class Value, class Fn>
void for_each_percpu(bpf_map* map, Fn&& fn, bool erase = false) {
  if (!map) return;
  std::vector<Value> values(possible_cpus());
  // Collect the keys first: deleting while walking restarts the walk.
  const std::vector<Key> keys = map_keys<Key>(map);
  for (const Key& k : keys) {
    if (erase) {
      // Read then delete: a sample that lands in between is lost, a few per
      // read at most; lookup_and_delete is not available for per-CPU hashes
      // before 5.14.
      if (bpf_map__lookup_elem(map, &k, sizeof(Key), values.data(), values.size() * sizeof(Value),
                               0) != 0)
        continue;
      bpf_map__delete_elem(map, &k, sizeof(Key), 0);
    } else if (bpf_map__lookup_elem(map, &k, sizeof(Key), values.data(),
                                    values.size() * sizeof(Value), 0) != 0) {
      continue;
    }
    fn(k, std::span<const Value>(values));
  }
}

// The slots 0..entries-1 of a per-CPU array of u64 counters, each summed
// over CPUs (0 for a slot that cannot be read).
inline std::vector<uint64_t> sum_percpu_array(bpf_map* map, uint32_t entries) {
  std::vector<uint64_t> out(entries, 0);
  if (!map) return out;
  std::vector<uint64_t> per_cpu(possible_cpus());
  for (uint32_t slot = 0; slot < entries; ++slot) {
    if (bpf_map__lookup_elem(map, &slot, sizeof(slot), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0)
      continue;
    for (auto v : per_cpu) out[slot] += v;
  }
  return out;
}

// Creates `key` with zeroed per-CPU values unless it exists: the fallback
// entry a BPF program folds into when its map is full.
template <class Key, class Value>
void create_percpu_entry(bpf_map* map, const Key& key) {
  if (!map) return;
  std::vector<Value> zero(possible_cpus());
  bpf_map__update_elem(map, &key, sizeof(Key), zero.data(), zero.size() * sizeof(Value),
                       BPF_NOEXIST);
}

// A log2 histogram summed over CPUs: bucket counts, their total, and the sum.
struct SummedHistogram {
  std::vector<uint64_t> buckets = std::vector<uint64_t>(KSIGHT_LOG2_SLOTS);
  uint64_t count = 0;
  uint64_t sum = 0;

  void add(const ksight_log2_hist& h) {
    for (size_t s = 0; s < buckets.size(); ++s) {
      buckets[s] += h.slots[s];
      count += h.slots[s];
    }
    sum += h.sum;
  }
};

}  // namespace ksight::probes
