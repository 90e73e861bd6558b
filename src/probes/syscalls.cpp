// syscalls probe: counts and failures by syscall and cgroup; the latency
// histogram by syscall only (summed over cgroups), since a histogram per
// cgroup and syscall would be ~30 series each.
#include "probes/syscalls.h"

#include <map>

#include "ksight/abi/syscalls.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "probes/runqlat.h"
#include "probes/syscall_names.h"
#include "syscalls.skel.h"

namespace ksight::probes {

SyscallsDecoder::SyscallsDecoder(core::Registry& reg, LoadedObject& obj) {
  calls_ = reg.add({.name = "ksight_syscalls_total",
                    .help = "System calls completed, by syscall and cgroup v2 id (0 collects "
                            "cgroups past the in-kernel limit).",
                    .kind = core::MetricKind::counter,
                    .label_names = {"syscall", std::string(core::kCgroupLabel)}});
  errors_ = reg.add({.name = "ksight_syscall_errors_total",
                     .help = "System calls that returned an error, by syscall and cgroup v2 id.",
                     .kind = core::MetricKind::counter,
                     .label_names = {"syscall", std::string(core::kCgroupLabel)}});
  latency_ = reg.add(
      log2_us_histogram({.name = "ksight_syscall_latency_seconds",
                         .help = "Time spent in system calls, from entry to return, by syscall.",
                         .kind = core::MetricKind::histogram,
                         .label_names = {"syscall"}}));
  per_process_on_ = obj.per_process();
  if (per_process_on_) {
    per_process_ = reg.add({.name = "ksight_process_syscalls_total",
                            .help = "System calls by process (ksight top only).",
                            .kind = core::MetricKind::counter,
                            .label_names = {"pid", "comm"}});
  }
  // Where the kernel counts calls once its map is full.
  create_percpu_entry<ksight_syscall_key, ksight_syscall_value>(
      obj.map("syscall_stats"), {.cgroup_id = 0, .nr = KSIGHT_SYSCALL_NR_OVERFLOW});
}

const std::string& SyscallsDecoder::name_of(uint32_t nr) {
  if (nr >= names_.size()) {
    size_t old = names_.size();
    names_.resize(nr + 1);
    for (size_t i = old; i < names_.size(); ++i) names_[i] = syscall_name(static_cast<uint32_t>(i));
  }
  return names_[nr];
}

void SyscallsDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  std::map<uint32_t, SummedHistogram> by_syscall;
  for_each_percpu<ksight_syscall_key, ksight_syscall_value>(
      obj.map("syscall_stats"),
      [&](const ksight_syscall_key& key, std::span<const ksight_syscall_value> per_cpu) {
        SummedHistogram h;
        uint64_t errors = 0;
        for (const auto& v : per_cpu) {
          h.add(v.latency);
          errors += v.errors;
        }
        if (h.count == 0) return;
        static const std::string kOverflow = "__overflow__";
        if (key.nr != KSIGHT_SYSCALL_NR_OVERFLOW && key.nr > 4096) return;  // not a syscall
        const std::string& name =
            key.nr == KSIGHT_SYSCALL_NR_OVERFLOW ? kOverflow : name_of(key.nr);
        const core::CgroupKey cgroup(key.cgroup_id);
        std::string_view labels[] = {name, cgroup};
        w.set(calls_, labels, static_cast<double>(h.count));
        if (errors) w.set(errors_, labels, static_cast<double>(errors));
        if (key.nr == KSIGHT_SYSCALL_NR_OVERFLOW) return;  // counted, not in the histogram
        SummedHistogram& total = by_syscall[key.nr];
        for (size_t s = 0; s < h.buckets.size(); ++s) total.buckets[s] += h.buckets[s];
        total.count += h.count;
        total.sum += h.sum;
      });
  for (const auto& [nr, h] : by_syscall) {
    std::string_view labels[] = {name_of(nr)};
    w.set_histogram(latency_, labels, h.buckets, static_cast<double>(h.sum) * 1e-6);
  }
  if (!per_process_on_) return;
  for_each_percpu<uint32_t, ksight_syscall_process>(
      obj.map("syscall_per_process"),
      [&](uint32_t pid, std::span<const ksight_syscall_process> per_cpu) {
        uint64_t calls = 0, most = 0;
        std::string_view comm;
        for (const auto& v : per_cpu) {
          calls += v.calls;
          if (v.calls > most) {  // the command the busiest CPU saw last
            most = v.calls;
            comm = c_string(v.comm);
          }
        }
        if (calls) w.add(per_process_, {std::to_string(pid), comm}, static_cast<double>(calls));
      },
      /*erase=*/true);
}

std::expected<std::unique_ptr<Probe>, std::string> create_syscalls_probe(const LoadRequest& req,
                                                                         core::Registry& reg) {
  return ObjectProbe<SyscallsDecoder>::create<syscalls_bpf>(req, reg, [&](syscalls_bpf* skel) {
    skel->rodata->ksight_syscalls_per_process = req.per_process;
    // The per-process map is for ksight top: a single entry otherwise, not
    // 16384 x CPUs of kernel memory nobody reads.
    if (!req.per_process) bpf_map__set_max_entries(skel->maps.syscall_per_process, 1);
  });
}

}  // namespace ksight::probes
