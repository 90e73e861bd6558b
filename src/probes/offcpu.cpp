// offcpu probe: the per-cgroup totals are emptied at every read and added
// here, like profile's samples; the stacks go through StackSets.
#include "probes/offcpu.h"

#include <string>

#include "ksight/abi/offcpu.h"
#include "offcpu.skel.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

OffcpuDecoder::OffcpuDecoder(core::Registry& reg, LoadedObject& obj,
                             std::unique_ptr<StackSets> stacks)
    : stacks_(std::move(stacks)) {
  seconds_ = reg.add({.name = "ksight_offcpu_seconds_total",
                      .help = "Time threads spent off the CPU (blocked or preempted) in blocks "
                              "of at least offcpu.min_block, by cgroup v2 id (0 collects "
                              "cgroups past the in-kernel limit).",
                      .kind = core::MetricKind::counter,
                      .label_names = {std::string(core::kCgroupLabel)}});
  blocks_ = reg.add({.name = "ksight_offcpu_blocks_total",
                     .help = "Blocks off the CPU of at least offcpu.min_block, by cgroup v2 id.",
                     .kind = core::MetricKind::counter,
                     .label_names = {std::string(core::kCgroupLabel)}});
  // The kernel folds cgroups past the map's limit into id 0: make sure it exists.
  create_percpu_entry<uint64_t, ksight_offcpu_total>(obj.map("offcpu_totals"), 0);
}

void OffcpuDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<uint64_t, ksight_offcpu_total>(
      obj.map("offcpu_totals"),
      [&](uint64_t cgroup_id, std::span<const ksight_offcpu_total> per_cpu) {
        uint64_t ns = 0, blocks = 0;
        for (const auto& v : per_cpu) {
          ns += v.ns;
          blocks += v.blocks;
        }
        if (blocks == 0) return;
        const core::CgroupKey id(cgroup_id);
        w.add(seconds_, {id}, static_cast<double>(ns) * 1e-9);
        w.add(blocks_, {id}, static_cast<double>(blocks));
      },
      /*erase=*/true);
  // The drain took the entry the kernel falls back to when the map is full.
  create_percpu_entry<uint64_t, ksight_offcpu_total>(obj.map("offcpu_totals"), 0);
}

std::expected<std::unique_ptr<Probe>, std::string> create_offcpu_probe(const LoadRequest& req,
                                                                       core::Registry& reg) {
  auto obj = LoadedObject::load<offcpu_bpf>(req, [&](offcpu_bpf* skel) {
    skel->rodata->offcpu_min_block_ns = req.offcpu_min_block_ns;
    skel->rodata->offcpu_stacks = req.stacks;
    size_stack_maps(skel->obj, req.stacks);
  });
  if (!obj) return std::unexpected(obj.error());
  std::unique_ptr<StackSets> stacks;
  if (req.stacks) {
    auto sets = StackSets::open(*obj, profile::ProfileKind::offcpu, 0, obj->map("offcpu_start"));
    if (!sets) return std::unexpected(sets.error());
    stacks = std::move(*sets);
  }
  OffcpuDecoder decoder(reg, *obj, std::move(stacks));
  return ObjectProbe<OffcpuDecoder>::adopt(std::move(*obj), std::move(decoder));
}

}  // namespace ksight::probes
