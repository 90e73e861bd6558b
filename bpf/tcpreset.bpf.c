// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpreset: RSTs this host sends (tcp:tcp_send_reset) and receives
 * (tcp:tcp_receive_reset), counted per cgroup, TCP state and direction in a
 * per-CPU map, and a record with the 4-tuple. A reset answering a segment no
 * socket wanted (a connect to a closed port) is sent with no socket at all:
 * its addresses come from the segment, and its state and cgroup are 0. */
#include "ksight.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/tcpreset.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, struct ksight_tcp_state_key);
	__type(value, __u64);
} tcpreset_counts SEC(".maps");

static __always_inline void count(struct ksight_tcp_state_key *key)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&tcpreset_counts, key);

	if (n) {
		*n += 1; /* per-CPU value */
		return;
	}
	if (!bpf_map_update_elem(&tcpreset_counts, key, &one, BPF_NOEXIST))
		return;
	key->cgroup_id = 0; /* full: fold into cgroup 0 */
	n = bpf_map_lookup_elem(&tcpreset_counts, key);
	if (n)
		*n += 1;
	else
		bpf_map_update_elem(&tcpreset_counts, key, &one, BPF_NOEXIST);
}

/* The reset answers `skb`: its source is the segment's destination. Wire
 * offsets (IPv4 saddr 12, daddr 16; IPv6 saddr 8, daddr 24; TCP ports 0, 2)
 * are fixed by the protocols, not by the kernel. */
static __always_inline void tuple_from_skb(const struct sk_buff *skb, struct ksight_tuple *t)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	__u8 vihl = 0;
	__u16 ports[2] = {};

	bpf_probe_read_kernel(&vihl, 1, head + nh);
	if ((vihl >> 4) == 4) {
		t->family = KSIGHT_AF_INET;
		bpf_probe_read_kernel(t->saddr, 4, head + nh + 16);
		bpf_probe_read_kernel(t->daddr, 4, head + nh + 12);
	} else {
		t->family = KSIGHT_AF_INET6;
		bpf_probe_read_kernel(t->saddr, 16, head + nh + 24);
		bpf_probe_read_kernel(t->daddr, 16, head + nh + 8);
	}
	bpf_probe_read_kernel(ports, sizeof(ports), head + th);
	t->sport = bpf_ntohs(ports[1]);
	t->dport = bpf_ntohs(ports[0]);
}

static __always_inline int handle_reset(void *ctx, const struct sock *sk,
					const struct sk_buff *skb, __u32 kind)
{
	struct ksight_tcp_state_key key = {};
	struct ksight_tcpreset_event *ev;

	key.cgroup_id = net__sock_cgroup_id(sk);
	if (!net__owner_wanted(0, NULL, key.cgroup_id))
		return 0;
	key.state = net__sock_state(sk);
	key.kind = kind;
	count(&key);

	ev = ksight__reserve_record(sizeof(*ev), true); /* always an error */
	if (!ev)
		return 0;
	net__fill_header(&ev->hdr, KSIGHT_PROBE_TCPRESET, sizeof(*ev), net__sock_cgroup_id(sk), 0, 0,
			 NULL);
	__builtin_memset(&ev->tuple, 0, sizeof(ev->tuple));
	if (sk)
		net__sock_tuple(sk, &ev->tuple);
	else if (skb)
		tuple_from_skb(skb, &ev->tuple);
	ev->state = key.state;
	ev->kind = kind;
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcpreset_tcp_send_reset_tp_btf, const struct sock *sk, const struct sk_buff *skb)
{
	return handle_reset(ctx, sk, skb, KSIGHT_TCPRESET_SENT);
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcpreset_tcp_receive_reset_tp_btf, const struct sock *sk)
{
	return handle_reset(ctx, sk, NULL, KSIGHT_TCPRESET_RECEIVED);
}

SEC("raw_tp/tcp_send_reset")
int BPF_PROG(tcpreset_tcp_send_reset_raw_tp, const struct sock *sk, const struct sk_buff *skb)
{
	return handle_reset(ctx, sk, skb, KSIGHT_TCPRESET_SENT);
}

SEC("raw_tp/tcp_receive_reset")
int BPF_PROG(tcpreset_tcp_receive_reset_raw_tp, const struct sock *sk)
{
	return handle_reset(ctx, sk, NULL, KSIGHT_TCPRESET_RECEIVED);
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcpreset_tcp_send_reset_tracepoint(void *ctx)
{
	return handle_reset(ctx, net__tp_sk_skb_field(ctx, trace_event_raw_tcp_send_reset, skaddr),
			    net__tp_sk_skb_field(ctx, trace_event_raw_tcp_send_reset, skbaddr),
			    KSIGHT_TCPRESET_SENT);
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcpreset_tcp_receive_reset_tracepoint(struct trace_event_raw_tcp_event_sk *ctx)
{
	return handle_reset(ctx, (const struct sock *)ctx->skaddr, NULL, KSIGHT_TCPRESET_RECEIVED);
}
