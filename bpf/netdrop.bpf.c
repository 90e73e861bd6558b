// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netdrop: packets the kernel frees as dropped (skb:kfree_skb), counted by
 * enum skb_drop_reason in a per-CPU array, plus a record per drop. User space
 * names the reasons from the running kernel's BTF.
 *
 * NOT_SPECIFIED is counted like any other reason (the program runs for it
 * anyway, so skipping it would save nothing) but emits no record: on many
 * kernels it fires on paths that are not drops at all, constantly. */
#include "ksight.bpf.h"
#include <bpf/bpf_endian.h>
#include "ksight/abi/netdrop.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSIGHT_NETDROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} netdrop_counts SEC(".maps");

static __always_inline int handle_drop(void *ctx, __u64 location, __u32 reason, __u16 protocol)
{
	__u32 slot = reason < KSIGHT_NETDROP_SLOTS - 1 ? reason : KSIGHT_NETDROP_SLOTS - 1;
	__u64 *n = bpf_map_lookup_elem(&netdrop_counts, &slot);
	struct ksight_netdrop_event *ev;
	__u64 pid_tgid;
	char comm[KSIGHT_COMM_LEN];

	if (n)
		*n += 1; /* per-CPU slot */
	/* The enum's values move between kernels: ask the running one. */
	if (reason == bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	ev = ksight__reserve(sizeof(*ev));
	if (!ev)
		return 0;
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_NETDROP, sizeof(*ev), pid_tgid, comm);
	ev->location = location;
	ev->reason = reason;
	ev->protocol = protocol;
	ev->pad = 0;
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(netdrop_kfree_skb_tp_btf, struct sk_buff *skb, void *location,
	     enum skb_drop_reason reason)
{
	return handle_drop(ctx, (__u64)location, reason, bpf_ntohs(BPF_CORE_READ(skb, protocol)));
}

SEC("raw_tp/kfree_skb")
int BPF_PROG(netdrop_kfree_skb_raw_tp, struct sk_buff *skb, void *location,
	     enum skb_drop_reason reason)
{
	return handle_drop(ctx, (__u64)location, reason, bpf_ntohs(BPF_CORE_READ(skb, protocol)));
}

SEC("tracepoint/skb/kfree_skb")
int netdrop_kfree_skb_tracepoint(struct trace_event_raw_kfree_skb *ctx)
{
	return handle_drop(ctx, (__u64)ctx->location, ctx->reason, ctx->protocol);
}
