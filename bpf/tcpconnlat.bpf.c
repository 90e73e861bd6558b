// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpconnlat: time from connect() to the SYN-ACK that establishes the
 * connection (libbpf-tools' tcpconnlat): the start is taken in
 * tcp_v4_connect()/tcp_v6_connect(), in the caller's context, and the end in
 * tcp_rcv_state_process() while the socket is still SYN_SENT. Kernel
 * functions, not tracepoints: fentry where trampolines work, else kprobes. A
 * record per connection and a log2 histogram in microseconds per cgroup. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/tcpconnlat.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct net_owner);
} tcpconnlat_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, __u64);
	__type(value, struct ksight_log2_hist);
} tcpconnlat_hist SEC(".maps");

static __always_inline int connect_start(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct net_owner o;

	net__owner_from_current(&o);
	if (!net__owner_wanted(o.pid, o.comm, o.cgroup_id))
		return 0;
	bpf_map_update_elem(&tcpconnlat_start, &key, &o, BPF_ANY);
	return 0;
}

static __always_inline int state_process(void *ctx, const struct sock *sk)
{
	static const struct ksight_log2_hist zero;
	struct ksight_tcpconnlat_event *ev;
	struct ksight_log2_hist *h;
	__u64 key = (__u64)sk, delta_ns, cgroup_id;
	struct net_owner *o;

	if (net__sock_state(sk) != TCP_SYN_SENT)
		return 0;
	o = bpf_map_lookup_elem(&tcpconnlat_start, &key);
	if (!o)
		return 0;
	delta_ns = bpf_ktime_get_ns() - o->start_ns;
	cgroup_id = o->cgroup_id;
	h = net__cgroup_slot(&tcpconnlat_hist, &cgroup_id, &zero);
	if (h)
		ksight__hist_record(h, delta_ns / 1000);
	ev = ksight__reserve(sizeof(*ev));
	if (ev) {
		net__fill_header(&ev->hdr, KSIGHT_PROBE_TCPCONNLAT, sizeof(*ev), o->cgroup_id,
				 o->pid, o->tid, o->comm);
		net__sock_tuple(sk, &ev->tuple);
		ev->latency_ns = delta_ns;
		ksight__submit(ctx, ev, sizeof(*ev));
	}
	bpf_map_delete_elem(&tcpconnlat_start, &key);
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(tcpconnlat_tcp_v4_connect_fentry, const struct sock *sk)
{
	return connect_start(sk);
}

SEC("fentry/tcp_v6_connect")
int BPF_PROG(tcpconnlat_tcp_v6_connect_fentry, const struct sock *sk)
{
	return connect_start(sk);
}

SEC("fentry/tcp_rcv_state_process")
int BPF_PROG(tcpconnlat_tcp_rcv_state_process_fentry, const struct sock *sk)
{
	return state_process(ctx, sk);
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(tcpconnlat_tcp_v4_connect_kprobe, const struct sock *sk)
{
	return connect_start(sk);
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(tcpconnlat_tcp_v6_connect_kprobe, const struct sock *sk)
{
	return connect_start(sk);
}

SEC("kprobe/tcp_rcv_state_process")
int BPF_KPROBE(tcpconnlat_tcp_rcv_state_process_kprobe, const struct sock *sk)
{
	return state_process(ctx, sk);
}
