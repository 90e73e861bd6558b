// The probe table: the one place that lists every probe, its attach variants
// in order of preference, and its factory. A new probe is one row here.
#include <algorithm>
#include <array>

#include "ksight/abi/common.h"
#include "probes/exec.h"
#include "probes/exit.h"
#include "probes/open.h"
#include "probes/probe.h"
#include "probes/runqlat.h"

namespace ksight::probes {

namespace {

using bpf::AttachMethod;

constexpr bpf::AttachVariant kExecVariants[] = {
    {AttachMethod::tp_btf, "sched/sched_process_exec", {"exec_sched_process_exec_tp_btf"}},
    {AttachMethod::raw_tp, "sched/sched_process_exec", {"exec_sched_process_exec_raw_tp"}},
    {AttachMethod::tracepoint, "sched/sched_process_exec", {"exec_sched_process_exec_tracepoint"}},
};
constexpr std::string_view kExecColumns[] = {"ppid", "uid", "filename", "args"};

constexpr bpf::AttachVariant kExitVariants[] = {
    {AttachMethod::tp_btf, "sched/sched_process_exit", {"exit_sched_process_exit_tp_btf"}},
    {AttachMethod::raw_tp, "sched/sched_process_exit", {"exit_sched_process_exit_raw_tp"}},
    {AttachMethod::tracepoint, "sched/sched_process_exit", {"exit_sched_process_exit_tracepoint"}},
};
constexpr std::string_view kExitColumns[] = {"ppid", "exit_code", "signal", "lifetime_s"};

// Per-syscall tracepoints first: raw_syscalls via tp_btf would run on every
// syscall of the machine (~120 ns each here) to find the opens.
constexpr bpf::AttachVariant kOpenVariants[] = {
    {AttachMethod::tracepoint,
     "syscalls/sys_enter_openat2",
     {"open_enter_openat_tracepoint", "open_exit_openat_tracepoint",
      "open_enter_openat2_tracepoint", "open_exit_openat2_tracepoint"}},
    {AttachMethod::tracepoint,
     "syscalls/sys_enter_openat",  // kernels before 5.6: no openat2
     {"open_enter_openat_tracepoint", "open_exit_openat_tracepoint"}},
    {AttachMethod::fentry, "do_sys_openat2", {"open_do_sys_openat2_fexit"}},
};
constexpr std::string_view kOpenColumns[] = {"fd", "error", "flags", "path"};

constexpr bpf::AttachVariant kRunqlatVariants[] = {
    {AttachMethod::tp_btf,
     "sched/sched_switch",
     {"runqlat_sched_wakeup_tp_btf", "runqlat_sched_wakeup_new_tp_btf",
      "runqlat_sched_switch_tp_btf"}},
    {AttachMethod::raw_tp,
     "sched/sched_switch",
     {"runqlat_sched_wakeup_raw_tp", "runqlat_sched_wakeup_new_raw_tp",
      "runqlat_sched_switch_raw_tp"}},
};

const std::array<ProbeSpec, 4> kProbes{{
    {"exec", "process execs: pid, ppid, uid, command, filename, argv", KSIGHT_PROBE_EXEC, true,
     kExecVariants, create_exec_probe, kExecColumns},
    {"exit", "process exits: exit code or signal, lifetime", KSIGHT_PROBE_EXIT, true, kExitVariants,
     create_exit_probe, kExitColumns},
    {"open", "file opens (openat, openat2): path, flags, fd or error", KSIGHT_PROBE_OPEN, false,
     kOpenVariants, create_open_probe, kOpenColumns},
    // Runs on every context switch: off unless asked for.
    {"runqlat",
     "run-queue latency histogram per cgroup, aggregated in the kernel",
     KSIGHT_PROBE_RUNQLAT,
     false,
     kRunqlatVariants,
     create_runqlat_probe,
     {},
     "ksight_runqueue_latency_seconds"},
}};

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::span<const ProbeSpec> probe_table() {
  return kProbes;
}

const ProbeSpec* find_probe(std::string_view name) {
  for (const auto& p : kProbes)
    if (p.name == name) return &p;
  return nullptr;
}

std::vector<std::string_view> closest_probes(std::string_view name) {
  std::vector<std::pair<size_t, std::string_view>> scored;
  for (const auto& p : kProbes) {
    size_t d = edit_distance(name, p.name);
    bool prefix = p.name.starts_with(name) || name.starts_with(p.name);
    if (d <= std::max<size_t>(2, name.size() / 3) || prefix) scored.emplace_back(d, p.name);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string_view> out;
  for (auto& [d, n] : scored) out.push_back(n);
  return out;
}

}  // namespace ksight::probes
