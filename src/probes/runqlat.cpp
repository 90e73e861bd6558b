// runqlat probe: the kernel aggregates; this reads the per-CPU histograms,
// adds the CPUs up and hands each cgroup's histogram to the registry.
#include "probes/runqlat.h"

#include <string>

#include "ksight/abi/runqlat.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "runqlat.skel.h"

namespace ksight::probes {

core::MetricDesc log2_us_histogram(core::MetricDesc d) {
  d.kind = core::MetricKind::histogram;
  d.bounds = core::log2_bounds(KSIGHT_LOG2_SLOTS, 1e-6);
  d.log2_unit = 1e-6;
  d.log2_ucum = "us";
  return d;
}

RunqlatDecoder::RunqlatDecoder(core::Registry& reg, LoadedObject& obj) {
  latency_ = reg.add(log2_us_histogram(
      {.name = "ksight_runqueue_latency_seconds",
       .help = "Run-queue latency: time from wake-up (or preemption) to running on a "
               "CPU, by cgroup v2 id (0 collects cgroups past the in-kernel limit).",
       .kind = core::MetricKind::histogram,
       .label_names = {std::string(core::kCgroupLabel)}}));
  // The kernel folds cgroups past the map's limit into id 0: make sure it exists.
  create_percpu_entry<uint64_t, ksight_log2_hist>(obj.map("runq_hist"), 0);
}

void RunqlatDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<uint64_t, ksight_log2_hist>(
      obj.map("runq_hist"), [&](uint64_t cgroup_id, std::span<const ksight_log2_hist> per_cpu) {
        SummedHistogram h;
        for (const auto& v : per_cpu) h.add(v);
        if (h.count == 0) return;
        const core::CgroupKey id(cgroup_id);
        std::string_view labels[] = {id};
        w.set_histogram(latency_, labels, h.buckets, static_cast<double>(h.sum) * 1e-6);
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_runqlat_probe(const LoadRequest& req,
                                                                        core::Registry& reg) {
  return ObjectProbe<RunqlatDecoder>::create<runqlat_bpf>(req, reg);
}

}  // namespace ksight::probes
