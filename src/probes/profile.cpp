// profile probe: on-CPU samples of the cpu-clock event. The kernel map is
// emptied at every read and the counts added here, so it only holds the
// processes seen since the last scrape; series of processes that stop
// running expire with the registry's TTL.
#include "probes/profile.h"

#include <algorithm>
#include <map>
#include <string>

#include "ksight/abi/profile.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "profile.skel.h"

namespace ksight::probes {

ProfileDecoder::ProfileDecoder(core::Registry& reg, LoadedObject& obj,
                               std::unique_ptr<StackSets> stacks)
    : stacks_(std::move(stacks)) {
  by_cgroup_ = reg.add({.name = "ksight_cpu_samples_total",
                        .help = "On-CPU samples of the cpu-clock event (profile.frequency per "
                                "second per busy CPU), by cgroup v2 id and mode (user, kernel).",
                        .kind = core::MetricKind::counter,
                        .label_names = {std::string(core::kCgroupLabel), "mode"}});
  by_process_ = reg.add({.name = "ksight_process_cpu_samples_total",
                         .help = "On-CPU samples of the cpu-clock event, by process and mode.",
                         .kind = core::MetricKind::counter,
                         .label_names = {"pid", "comm", "mode"}});
  create_percpu_entry<ksight_profile_key, ksight_profile_value>(obj.map("profile_samples"), {});
}

void ProfileDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> cgroups;  // id -> user, kernel
  for_each_percpu<ksight_profile_key, ksight_profile_value>(
      obj.map("profile_samples"),
      [&](const ksight_profile_key& key, std::span<const ksight_profile_value> per_cpu) {
        uint64_t user = 0, kernel = 0, most = 0;
        std::string_view comm;
        for (const auto& v : per_cpu) {
          user += v.user;
          kernel += v.kernel;
          // Each CPU keeps the command of its last sample; the busiest one's.
          if (v.user + v.kernel > most) {
            most = v.user + v.kernel;
            comm = c_string(v.comm);
          }
        }
        auto& c = cgroups[key.cgroup_id];
        c.first += user;
        c.second += kernel;
        const std::string pid = std::to_string(key.pid);
        if (user) w.add(by_process_, {pid, comm, "user"}, static_cast<double>(user));
        if (kernel) w.add(by_process_, {pid, comm, "kernel"}, static_cast<double>(kernel));
      },
      /*erase=*/true);
  // The drain took the entry the kernel falls back to when the map is full.
  create_percpu_entry<ksight_profile_key, ksight_profile_value>(obj.map("profile_samples"), {});
  for (const auto& [id, counts] : cgroups) {
    const std::string cgroup = std::to_string(id);
    if (counts.first) w.add(by_cgroup_, {cgroup, "user"}, static_cast<double>(counts.first));
    if (counts.second) w.add(by_cgroup_, {cgroup, "kernel"}, static_cast<double>(counts.second));
  }
}

std::expected<std::unique_ptr<Probe>, std::string> create_profile_probe(const LoadRequest& req,
                                                                        core::Registry& reg) {
  auto obj = LoadedObject::load<profile_bpf>(req, [&](profile_bpf* skel) {
    skel->rodata->profile_stacks = req.stacks;
    size_stack_maps(skel->obj, req.stacks);
  });
  if (!obj) return std::unexpected(obj.error());
  std::unique_ptr<StackSets> stacks;
  if (req.stacks) {
    const uint64_t period_ns = 1'000'000'000ull / std::max<uint32_t>(req.sample_frequency_hz, 1);
    auto sets = StackSets::open(*obj, profile::ProfileKind::cpu, period_ns);
    if (!sets) return std::unexpected(sets.error());
    stacks = std::move(*sets);
  }
  ProfileDecoder decoder(reg, *obj, std::move(stacks));
  return ObjectProbe<ProfileDecoder>::adopt(std::move(*obj), std::move(decoder));
}

}  // namespace ksight::probes
