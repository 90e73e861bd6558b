// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpretrans: every retransmitted TCP segment (tcp:tcp_retransmit_skb),
 * counted per cgroup and TCP state in a per-CPU map, and a record with the
 * 4-tuple. Retransmits run from the retransmit timer or on a (D)SACK, in
 * softirq: the cgroup is the socket's, and there is no owning task. */
#include "ksight.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/tcpretrans.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, struct ksight_tcp_state_key);
	__type(value, __u64);
} tcpretrans_counts SEC(".maps");

static __always_inline int handle_retransmit(void *ctx, const struct sock *sk)
{
	struct ksight_tcpretrans_event *ev;
	struct ksight_tcp_state_key key = {};
	__u64 one = 1, *count;

	if (!sk)
		return 0;
	key.cgroup_id = net__sock_cgroup_id(sk);
	if (!net__owner_wanted(0, NULL, key.cgroup_id))
		return 0;
	key.state = net__sock_state(sk);
	count = bpf_map_lookup_elem(&tcpretrans_counts, &key);
	if (count) {
		*count += 1; /* per-CPU value */
	} else if (bpf_map_update_elem(&tcpretrans_counts, &key, &one, BPF_NOEXIST)) {
		key.cgroup_id = 0; /* full: fold into cgroup 0 */
		count = bpf_map_lookup_elem(&tcpretrans_counts, &key);
		if (count)
			*count += 1;
		else
			bpf_map_update_elem(&tcpretrans_counts, &key, &one, BPF_NOEXIST);
	}

	ev = ksight__reserve_record(sizeof(*ev), true); /* always an error */
	if (!ev)
		return 0;
	net__fill_header(&ev->hdr, KSIGHT_PROBE_TCPRETRANS, sizeof(*ev), net__sock_cgroup_id(sk), 0,
			 0, NULL);
	net__sock_tuple(sk, &ev->tuple);
	ev->state = key.state;
	ev->pad = 0;
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcpretrans_tcp_retransmit_skb_tp_btf, const struct sock *sk)
{
	return handle_retransmit(ctx, sk);
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(tcpretrans_tcp_retransmit_skb_raw_tp, const struct sock *sk)
{
	return handle_retransmit(ctx, sk);
}

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpretrans_tcp_retransmit_skb_tracepoint(void *ctx)
{
	return handle_retransmit(
		ctx, net__tp_sk_skb_field(ctx, trace_event_raw_tcp_retransmit_skb, skaddr));
}
