// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcprtt: the smoothed RTT of established connections, sampled on every
 * segment they receive, as a log2 histogram in microseconds per cgroup in a
 * per-CPU map (no records). tcp:tcp_probe fires from tcp_rcv_established(),
 * the very function libbpf-tools' tcprtt hooks with fentry/kprobe; the
 * tracepoint family comes first because it needs neither trampolines nor
 * kprobes and costs the same per segment. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/tcprtt.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, __u64);
	__type(value, struct ksight_log2_hist);
} tcprtt_hist SEC(".maps");

static __always_inline int record(__u64 cgroup_id, __u32 srtt_us)
{
	static const struct ksight_log2_hist zero;
	struct ksight_log2_hist *h;

	if (!net__owner_wanted(0, NULL, cgroup_id))
		return 0;
	h = net__cgroup_slot(&tcprtt_hist, &cgroup_id, &zero);
	if (h)
		ksight__hist_record(h, srtt_us);
	return 0;
}

static __always_inline int handle_sock(const struct sock *sk)
{
	/* tcp_sock keeps 8 * srtt in microseconds. */
	__u32 srtt_us = BPF_CORE_READ((const struct tcp_sock *)sk, srtt_us) >> 3;

	return record(net__sock_cgroup_id(sk), srtt_us);
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcprtt_tcp_probe_tp_btf, const struct sock *sk)
{
	return handle_sock(sk);
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(tcprtt_tcp_probe_raw_tp, const struct sock *sk)
{
	return handle_sock(sk);
}

/* The record has srtt (already divided by 8) and, since the skaddr field was
 * added, the socket for its cgroup; without it, cgroup 0. */
SEC("tracepoint/tcp/tcp_probe")
int tcprtt_tcp_probe_tracepoint(struct trace_event_raw_tcp_probe *ctx)
{
	__u64 cgroup_id = 0;

	if (bpf_core_field_exists(ctx->skaddr))
		cgroup_id = net__sock_cgroup_id((const struct sock *)BPF_CORE_READ(ctx, skaddr));
	return record(cgroup_id, ctx->srtt);
}

SEC("fentry/tcp_rcv_established")
int BPF_PROG(tcprtt_tcp_rcv_established_fentry, const struct sock *sk)
{
	return handle_sock(sk);
}

SEC("kprobe/tcp_rcv_established")
int BPF_KPROBE(tcprtt_tcp_rcv_established_kprobe, const struct sock *sk)
{
	return handle_sock(sk);
}
