// The probe table: the one place that lists every probe, its attach variants
// in order of preference, and its factory. A new probe is one row here.
#include <algorithm>
#include <array>

#include "ksight/abi/common.h"
#include "probes/cgroupnet.h"
#include "probes/exec.h"
#include "probes/exit.h"
#include "probes/netdrop.h"
#include "probes/open.h"
#include "probes/probe.h"
#include "probes/runqlat.h"
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

const std::array<ProbeSpec, 11> kProbes{{
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
    // Network probes: off by default until their overhead is measured on a
    // loaded node (docs/probes-network.md has the loopback numbers).
    {"tcp", "TCP connections: opens, closes, duration, bytes, RTT, with the 4-tuple",
     KSIGHT_PROBE_TCP, false, kTcpVariants, create_tcp_probe, kTcpColumns},
    {"tcpretrans", "TCP retransmits by cgroup and state, with the 4-tuple", KSIGHT_PROBE_TCPRETRANS,
     false, kTcpretransVariants, create_tcpretrans_probe, kTcpretransColumns},
    {"tcpreset", "TCP resets sent and received by cgroup and state, with the 4-tuple",
     KSIGHT_PROBE_TCPRESET, false, kTcpresetVariants, create_tcpreset_probe, kTcpresetColumns},
    {"tcprtt",
     "TCP smoothed RTT histogram per cgroup, aggregated in the kernel",
     KSIGHT_PROBE_TCPRTT,
     false,
     kTcprttVariants,
     create_tcprtt_probe,
     {},
     "ksight_tcp_rtt_seconds"},
    {"netdrop", "packets dropped by the kernel, by drop reason (names from the kernel's BTF)",
     KSIGHT_PROBE_NETDROP, false, kNetdropVariants, create_netdrop_probe, kNetdropColumns},
    {"cgroupnet",
     "bytes and packets in and out per cgroup (cgroup_skb on the cgroup v2 root)",
     KSIGHT_PROBE_CGROUPNET,
     false,
     kCgroupnetVariants,
     create_cgroupnet_probe,
     {},
     {},
     kCgroupnetTotals},
    {"tcpconnlat", "TCP connect latency (connect() to SYN-ACK), with the 4-tuple",
     KSIGHT_PROBE_TCPCONNLAT, false, kTcpconnlatVariants, create_tcpconnlat_probe,
     kTcpconnlatColumns, "ksight_tcp_connect_latency_seconds"},
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
