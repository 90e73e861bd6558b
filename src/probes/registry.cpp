// The probe table: the one place that lists every probe, its attach variants
// in order of preference, and its factory. A new probe is one row here.
#include <bpf/btf.h>
#include <algorithm>
#include <array>

#include "ksight/abi/common.h"
#include "probes/biolatency.h"
#include "probes/cgroupnet.h"
#include "probes/exec.h"
#include "probes/exit.h"
#include "probes/netdrop.h"
#include "probes/offcpu.h"
#include "probes/oomkill.h"
#include "probes/open.h"
#include "probes/probe.h"
#include "probes/profile.h"
#include "probes/runqlat.h"
#include "probes/signal.h"
#include "probes/syscalls.h"
#include "probes/tcp.h"
#include "probes/tcpconnlat.h"
#include "probes/tcpreset.h"
#include "probes/tcpretrans.h"
#include "probes/tcprtt.h"

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

constexpr ByKey kByCgroup[] = {{"cgroup", "cgroup_id"}};
// Per-cgroup maps, pruned of dead cgroups (the key's cgroup id offset).
constexpr CgroupMap kRunqlatCgroupMaps[] = {{"runq_hist", 0}};
constexpr CgroupMap kSyscallsCgroupMaps[] = {{"syscall_stats", 0}};
constexpr CgroupMap kOomkillCgroupMaps[] = {{"oom_kills", 0}};
constexpr CgroupMap kProfileCgroupMaps[] = {{"profile_samples", 0}};
constexpr CgroupMap kTcpCgroupMaps[] = {{"tcp_stats", 0}};
constexpr CgroupMap kTcpretransCgroupMaps[] = {{"tcpretrans_counts", 0}};
constexpr CgroupMap kTcpresetCgroupMaps[] = {{"tcpreset_counts", 0}};
constexpr CgroupMap kTcprttCgroupMaps[] = {{"tcprtt_hist", 0}};
constexpr CgroupMap kCgroupnetCgroupMaps[] = {{"cgroupnet_stats", 0}};
constexpr CgroupMap kTcpconnlatCgroupMaps[] = {{"tcpconnlat_hist", 0}};

constexpr bpf::AttachVariant kBiolatencyVariants[] = {
    {AttachMethod::tp_btf,
     "block/block_rq_complete",
     {"biolatency_block_rq_issue_tp_btf", "biolatency_block_rq_complete_tp_btf"}},
    {AttachMethod::raw_tp,
     "block/block_rq_complete",
     {"biolatency_block_rq_issue_raw_tp", "biolatency_block_rq_complete_raw_tp"}},
};
constexpr ByKey kBiolatencyBy[] = {{"disk", "disk"}};
constexpr std::string_view kBiolatencyCounters[] = {"ksight_block_io_bytes_total"};

constexpr bpf::AttachVariant kSyscallsVariants[] = {
    {AttachMethod::tp_btf,
     "raw_syscalls/sys_exit",
     {"syscalls_sys_enter_tp_btf", "syscalls_sys_exit_tp_btf"}},
    {AttachMethod::raw_tp,
     "raw_syscalls/sys_exit",
     {"syscalls_sys_enter_raw_tp", "syscalls_sys_exit_raw_tp"}},
    {AttachMethod::tracepoint,
     "raw_syscalls/sys_exit",
     {"syscalls_sys_enter_tracepoint", "syscalls_sys_exit_tracepoint"}},
};
constexpr ByKey kSyscallsBy[] = {{"syscall", "syscall"}};
constexpr std::string_view kSyscallsCounters[] = {"ksight_syscalls_total",
                                                  "ksight_syscall_errors_total"};

constexpr bpf::AttachVariant kOomkillVariants[] = {
    {AttachMethod::tracepoint, "oom/mark_victim", {"oomkill_mark_victim_tracepoint"}},
};
constexpr std::string_view kOomkillColumns[] = {"victim_pid",  "victim_comm", "total_vm_kb",
                                                "anon_rss_kb", "file_rss_kb", "oom_score_adj"};

constexpr bpf::AttachVariant kSignalVariants[] = {
    {AttachMethod::tp_btf, "signal/signal_generate", {"signal_generate_tp_btf"}},
    {AttachMethod::raw_tp, "signal/signal_generate", {"signal_generate_raw_tp"}},
    {AttachMethod::tracepoint, "signal/signal_generate", {"signal_generate_tracepoint"}},
};
constexpr std::string_view kSignalColumns[] = {"signal", "target_pid", "target_comm", "code",
                                               "result"};
constexpr std::string_view kSignalCounters[] = {"ksight_signals_total"};

constexpr bpf::AttachVariant kProfileVariants[] = {
    {AttachMethod::perf_event, "cpu-clock", {"profile_cpu_clock_perf_event"}},
};
constexpr ByKey kProfileBy[] = {{"process", "comm"}, {"cgroup", "cgroup_id"}};
constexpr std::string_view kProfileCounters[] = {"ksight_process_cpu_samples_total"};

constexpr bpf::AttachVariant kOffcpuVariants[] = {
    {AttachMethod::tp_btf, "sched/sched_switch", {"offcpu_sched_switch_tp_btf"}},
    {AttachMethod::raw_tp, "sched/sched_switch", {"offcpu_sched_switch_raw_tp"}},
};
constexpr CgroupMap kOffcpuCgroupMaps[] = {{"offcpu_totals", 0}};
constexpr std::string_view kOffcpuCounters[] = {"ksight_offcpu_seconds_total"};

// Network probes. The socket tracepoints come in all three flavours; the
// programs read the socket through BPF_CORE_READ in every one of them, so the
// classic tracepoint loses nothing but speed.
constexpr bpf::AttachVariant kTcpVariants[] = {
    {AttachMethod::tp_btf, "sock/inet_sock_set_state", {"tcp_inet_sock_set_state_tp_btf"}},
    {AttachMethod::raw_tp, "sock/inet_sock_set_state", {"tcp_inet_sock_set_state_raw_tp"}},
    {AttachMethod::tracepoint, "sock/inet_sock_set_state", {"tcp_inet_sock_set_state_tracepoint"}},
};
constexpr std::string_view kTcpColumns[] = {
    "event", "saddr", "sport", "daddr", "dport", "duration_ms", "tx_bytes", "rx_bytes", "srtt_us"};

constexpr bpf::AttachVariant kTcpretransVariants[] = {
    {AttachMethod::tp_btf, "tcp/tcp_retransmit_skb", {"tcpretrans_tcp_retransmit_skb_tp_btf"}},
    {AttachMethod::raw_tp, "tcp/tcp_retransmit_skb", {"tcpretrans_tcp_retransmit_skb_raw_tp"}},
    {AttachMethod::tracepoint,
     "tcp/tcp_retransmit_skb",
     {"tcpretrans_tcp_retransmit_skb_tracepoint"}},
};
constexpr std::string_view kTcpretransColumns[] = {"saddr", "sport", "daddr", "dport", "state"};

constexpr bpf::AttachVariant kTcpresetVariants[] = {
    {AttachMethod::tp_btf,
     "tcp/tcp_send_reset",
     {"tcpreset_tcp_send_reset_tp_btf", "tcpreset_tcp_receive_reset_tp_btf"}},
    {AttachMethod::raw_tp,
     "tcp/tcp_send_reset",
     {"tcpreset_tcp_send_reset_raw_tp", "tcpreset_tcp_receive_reset_raw_tp"}},
    {AttachMethod::tracepoint,
     "tcp/tcp_send_reset",
     {"tcpreset_tcp_send_reset_tracepoint", "tcpreset_tcp_receive_reset_tracepoint"}},
};
constexpr std::string_view kTcpresetColumns[] = {"direction", "saddr", "sport",
                                                 "daddr",     "dport", "state"};

// tcp:tcp_probe fires in tcp_rcv_established(), the function libbpf-tools'
// tcprtt hooks: the tracepoint family first, since it needs neither
// trampolines nor kprobes.
constexpr bpf::AttachVariant kTcprttVariants[] = {
    {AttachMethod::tp_btf, "tcp/tcp_probe", {"tcprtt_tcp_probe_tp_btf"}},
    {AttachMethod::raw_tp, "tcp/tcp_probe", {"tcprtt_tcp_probe_raw_tp"}},
    {AttachMethod::tracepoint, "tcp/tcp_probe", {"tcprtt_tcp_probe_tracepoint"}},
    {AttachMethod::fentry, "tcp_rcv_established", {"tcprtt_tcp_rcv_established_fentry"}},
    {AttachMethod::kprobe, "tcp_rcv_established", {"tcprtt_tcp_rcv_established_kprobe"}},
};

constexpr bpf::AttachVariant kNetdropVariants[] = {
    {AttachMethod::tp_btf, "skb/kfree_skb", {"netdrop_kfree_skb_tp_btf"}},
    {AttachMethod::raw_tp, "skb/kfree_skb", {"netdrop_kfree_skb_raw_tp"}},
    {AttachMethod::tracepoint, "skb/kfree_skb", {"netdrop_kfree_skb_tracepoint"}},
};
constexpr std::string_view kNetdropColumns[] = {"reason", "protocol", "location"};

constexpr std::string_view kCgroupnetTotals[] = {"ksight_cgroup_network_bytes_total",
                                                 "ksight_cgroup_network_packets_total"};
constexpr bpf::AttachVariant kCgroupnetVariants[] = {
    {AttachMethod::cgroup_skb, "cgroup v2 root", {"cgroupnet_ingress", "cgroupnet_egress"}},
};

// Kernel functions only: no tracepoint marks connect() and the SYN-ACK.
constexpr bpf::AttachVariant kTcpconnlatVariants[] = {
    {AttachMethod::fentry,
     "tcp_v4_connect",
     {"tcpconnlat_tcp_v4_connect_fentry", "tcpconnlat_tcp_v6_connect_fentry",
      "tcpconnlat_tcp_rcv_state_process_fentry"}},
    {AttachMethod::kprobe,
     "tcp_v4_connect",
     {"tcpconnlat_tcp_v4_connect_kprobe", "tcpconnlat_tcp_v6_connect_kprobe",
      "tcpconnlat_tcp_rcv_state_process_kprobe"}},
};
constexpr std::string_view kTcpconnlatColumns[] = {"saddr", "sport", "daddr", "dport",
                                                   "latency_ms"};

const std::array<ProbeSpec, 17> kProbes{{
    {"exec", "process execs: pid, ppid, uid, command, filename, argv", KSIGHT_PROBE_EXEC, true,
     kExecVariants, create_exec_probe, kExecColumns},
    {"exit", "process exits: exit code or signal, lifetime", KSIGHT_PROBE_EXIT, true, kExitVariants,
     create_exit_probe, kExitColumns},
    {"open",
     "file opens (openat, openat2): path, flags, fd or error",
     KSIGHT_PROBE_OPEN,
     false,
     kOpenVariants,
     create_open_probe,
     kOpenColumns,
     {},
     {},
     {},
     true},
    // Runs on every context switch: off unless asked for.
    {"runqlat",
     "run-queue latency histogram per cgroup, aggregated in the kernel",
     KSIGHT_PROBE_RUNQLAT,
     false,
     kRunqlatVariants,
     create_runqlat_probe,
     {},
     "ksight_runqueue_latency_seconds",
     kByCgroup,
     {},
     false,
     kRunqlatCgroupMaps},
    {"biolatency",
     "block I/O latency histogram and bytes per disk and operation, aggregated in the kernel",
     KSIGHT_PROBE_BIOLATENCY,
     false,
     kBiolatencyVariants,
     create_biolatency_probe,
     {},
     "ksight_block_io_latency_seconds",
     kBiolatencyBy,
     kBiolatencyCounters},
    // Runs on every syscall of the machine: off unless asked for
    // (docs/probes.md has the measured cost).
    {"syscalls",
     "syscall counts, errors and latency per syscall and cgroup, aggregated in the kernel",
     KSIGHT_PROBE_SYSCALLS,
     false,
     kSyscallsVariants,
     create_syscalls_probe,
     {},
     "ksight_syscall_latency_seconds",
     kSyscallsBy,
     kSyscallsCounters,
     false,
     kSyscallsCgroupMaps},
    {"oomkill",
     "OOM kills: victim pid and command, memory figures, the cgroup out of memory",
     KSIGHT_PROBE_OOMKILL,
     true,
     kOomkillVariants,
     create_oomkill_probe,
     kOomkillColumns,
     {},
     {},
     {},
     true,
     kOomkillCgroupMaps},
    {"signal",
     "signals generated, counted by signal; fatal ones as events with sender and target",
     KSIGHT_PROBE_SIGNAL,
     true,
     kSignalVariants,
     create_signal_probe,
     kSignalColumns,
     {},
     {},
     kSignalCounters,
     true},
    {"profile",
     "on-CPU samples (cpu-clock at profile.frequency) per cgroup and process, user/kernel",
     KSIGHT_PROBE_PROFILE,
     false,
     kProfileVariants,
     create_profile_probe,
     {},
     {},
     kProfileBy,
     kProfileCounters,
     false,
     kProfileCgroupMaps},
    // Runs on every context switch: off unless asked for.
    {"offcpu",
     "time off the CPU (blocks of at least offcpu.min_block) per cgroup; per stack when profiling",
     KSIGHT_PROBE_OFFCPU,
     false,
     kOffcpuVariants,
     create_offcpu_probe,
     {},
     {},
     kByCgroup,
     kOffcpuCounters,
     false,
     kOffcpuCgroupMaps},
    // Network probes: off by default until their overhead is measured on a
    // loaded node (docs/probes.md has the loopback numbers).
    {"tcp",
     "TCP connections: opens, closes, duration, bytes, RTT, with the 4-tuple",
     KSIGHT_PROBE_TCP,
     false,
     kTcpVariants,
     create_tcp_probe,
     kTcpColumns,
     {},
     {},
     {},
     true,
     kTcpCgroupMaps},
    {"tcpretrans",
     "TCP retransmits by cgroup and state, with the 4-tuple",
     KSIGHT_PROBE_TCPRETRANS,
     false,
     kTcpretransVariants,
     create_tcpretrans_probe,
     kTcpretransColumns,
     {},
     {},
     {},
     true,
     kTcpretransCgroupMaps},
    {"tcpreset",
     "TCP resets sent and received by cgroup and state, with the 4-tuple",
     KSIGHT_PROBE_TCPRESET,
     false,
     kTcpresetVariants,
     create_tcpreset_probe,
     kTcpresetColumns,
     {},
     {},
     {},
     true,
     kTcpresetCgroupMaps},
    {"tcprtt",
     "TCP smoothed RTT histogram per cgroup, aggregated in the kernel",
     KSIGHT_PROBE_TCPRTT,
     false,
     kTcprttVariants,
     create_tcprtt_probe,
     {},
     "ksight_tcp_rtt_seconds",
     kByCgroup,
     {},
     false,
     kTcprttCgroupMaps},
    {"netdrop",
     "packets dropped by the kernel, by drop reason (names from the kernel's BTF)",
     KSIGHT_PROBE_NETDROP,
     false,
     kNetdropVariants,
     create_netdrop_probe,
     kNetdropColumns,
     {},
     {},
     {},
     true},
    {"cgroupnet",
     "bytes and packets in and out per cgroup (cgroup_skb on the cgroup v2 root)",
     KSIGHT_PROBE_CGROUPNET,
     false,
     kCgroupnetVariants,
     create_cgroupnet_probe,
     {},
     {},
     kByCgroup,
     kCgroupnetTotals,
     false,
     kCgroupnetCgroupMaps},
    {"tcpconnlat",
     "TCP connect latency (connect() to SYN-ACK), with the 4-tuple",
     KSIGHT_PROBE_TCPCONNLAT,
     false,
     kTcpconnlatVariants,
     create_tcpconnlat_probe,
     kTcpconnlatColumns,
     "ksight_tcp_connect_latency_seconds",
     {},
     {},
     true,
     kTcpconnlatCgroupMaps},
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

std::string kernel_limits(std::string_view probe, const struct btf* vmlinux) {
  auto has = [&](const char* name, int kind) {
    return vmlinux && btf__find_by_name_kind(vmlinux, name, kind) >= 0;
  };
  auto has_member = [&](const char* type, std::string_view member) {
    int id = vmlinux ? btf__find_by_name_kind(vmlinux, type, BTF_KIND_STRUCT) : -1;
    if (id < 0) return false;
    const btf_type* t = btf__type_by_id(vmlinux, static_cast<__u32>(id));
    const btf_member* m = btf_members(t);
    for (int i = 0; i < btf_vlen(t); ++i, ++m)
      if (member == btf__name_by_offset(vmlinux, m->name_off)) return true;
    return false;
  };
  if (probe == "oomkill" && !has_member("trace_event_raw_mark_victim", "total_vm"))
    return "the victim's command and memory before 6.0 only when it is the task that ran out "
           "of memory";
  if (probe == "netdrop" && !has("skb_drop_reason", BTF_KIND_ENUM))
    return "no drop reasons before 5.17: drops counted by the kernel function that freed them";
  if (probe == "tcpreset" && !has("trace_event_raw_tcp_send_reset", BTF_KIND_STRUCT))
    return "resets sent without a socket (to closed ports) are traced from 6.10 only";
  return {};
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
