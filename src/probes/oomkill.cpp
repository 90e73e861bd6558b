// oomkill probe: ksight_oom_kills_total by the cgroup that ran out of memory,
// and one event per kill with the victim and its memory at the time.
#include "probes/oomkill.h"

#include <unistd.h>

#include <string>

#include "ksight/abi/oomkill.h"
#include "oomkill.skel.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

OomkillDecoder::OomkillDecoder(core::Registry& reg, LoadedObject& obj) {
  kills_ = reg.add({.name = "ksight_oom_kills_total",
                    .help = "Processes killed by the OOM killer, by the cgroup v2 id of the task "
                            "that ran out of memory (0 collects cgroups past the in-kernel "
                            "limit).",
                    .kind = core::MetricKind::counter,
                    .label_names = {std::string(core::kCgroupLabel)}});
  create_percpu_entry<uint64_t, uint64_t>(obj.map("oom_kills"), 0);
}

bool OomkillDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                            core::EventView* ev) {
  const auto* e = record_as<ksight_oomkill_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "oomkill", e->hdr);
  ev->add_u64("victim_pid", e->victim_pid);
  ev->add_str("victim_comm", c_string(e->victim_comm));
  ev->add_u64("victim_uid", e->victim_uid);
  ev->add_u64("total_vm_kb", e->total_vm_kb);
  ev->add_u64("anon_rss_kb", e->anon_rss_kb);
  ev->add_u64("file_rss_kb", e->file_rss_kb);
  ev->add_u64("shmem_rss_kb", e->shmem_rss_kb);
  ev->add_u64("pgtables_kb", e->pgtables_kb);
  ev->add_i64("oom_score_adj", e->oom_score_adj);
  return true;
}

void OomkillDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<uint64_t, uint64_t>(obj.map("oom_kills"),
                                      [&](uint64_t cgroup_id, std::span<const uint64_t> per_cpu) {
                                        uint64_t total = 0;
                                        for (auto v : per_cpu) total += v;
                                        if (total == 0) return;
                                        const core::CgroupKey id(cgroup_id);
                                        std::string_view labels[] = {id};
                                        w.set(kills_, labels, static_cast<double>(total));
                                      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_oomkill_probe(const LoadRequest& req,
                                                                        core::Registry& reg) {
  return ObjectProbe<OomkillDecoder>::create<oomkill_bpf>(req, reg, [](oomkill_bpf* skel) {
    skel->rodata->oomkill_page_kb = static_cast<__u32>(::sysconf(_SC_PAGESIZE) / 1024);
  });
}

}  // namespace ksight::probes
