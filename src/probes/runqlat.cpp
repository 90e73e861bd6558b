// runqlat probe: the kernel aggregates; this reads the per-CPU histograms,
// adds the CPUs up and hands each cgroup's histogram to the registry.
#include "probes/runqlat.h"

#include <cmath>
#include <string>

#include "ksight/abi/runqlat.h"
#include "probes/loaded_object.h"
#include "runqlat.skel.h"

namespace ksight::probes {

std::vector<double> log2_us_bounds() {
  std::vector<double> b;
  for (int s = 0; s + 1 < KSIGHT_LOG2_SLOTS; ++s) b.push_back(std::ldexp(1.0, s + 1) * 1e-6);
  return b;
}

RunqlatDecoder::RunqlatDecoder(core::Registry& reg, LoadedObject& obj) {
  latency_ =
      reg.add({.name = "ksight_runqueue_latency_seconds",
               .help = "Run-queue latency: time from wake-up (or preemption) to running on a "
                       "CPU, by cgroup v2 id (0 collects cgroups past the in-kernel limit).",
               .kind = core::MetricKind::histogram,
               .label_names = {"cgroup_id"},
               .bounds = log2_us_bounds()});
  // The kernel folds cgroups past the map's limit into id 0: make sure it exists.
  int cpus = libbpf_num_possible_cpus();
  std::vector<ksight_log2_hist> zero(static_cast<size_t>(std::max(cpus, 1)));
  uint64_t key = 0;
  if (bpf_map* m = obj.map("runq_hist"))
    bpf_map__update_elem(m, &key, sizeof(key), zero.data(), zero.size() * sizeof(ksight_log2_hist),
                         BPF_NOEXIST);
}

void RunqlatDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  bpf_map* m = obj.map("runq_hist");
  int cpus = libbpf_num_possible_cpus();
  if (!m || cpus <= 0) return;
  std::vector<ksight_log2_hist> per_cpu(static_cast<size_t>(cpus));
  std::vector<uint64_t> buckets(KSIGHT_LOG2_SLOTS);
  uint64_t key = 0, next = 0;
  const void* prev = nullptr;
  while (bpf_map__get_next_key(m, prev, &next, sizeof(next)) == 0) {
    key = next;
    prev = &key;
    if (bpf_map__lookup_elem(m, &key, sizeof(key), per_cpu.data(),
                             per_cpu.size() * sizeof(ksight_log2_hist), 0) != 0)
      continue;
    std::fill(buckets.begin(), buckets.end(), 0);
    uint64_t sum_us = 0, total = 0;
    for (const auto& h : per_cpu) {
      for (size_t s = 0; s < buckets.size(); ++s) buckets[s] += h.slots[s];
      sum_us += h.sum;
    }
    for (auto b : buckets) total += b;
    if (total == 0) continue;
    const std::string id = std::to_string(key);
    std::string_view labels[] = {id};
    w.set_histogram(latency_, labels, buckets, static_cast<double>(sum_us) * 1e-6);
  }
}

std::expected<std::unique_ptr<Probe>, std::string> create_runqlat_probe(const LoadRequest& req,
                                                                        core::Registry& reg) {
  return ObjectProbe<RunqlatDecoder>::create<runqlat_bpf>(req, reg);
}

}  // namespace ksight::probes
