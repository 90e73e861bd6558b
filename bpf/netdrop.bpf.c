// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* netdrop: packets the kernel frees as dropped (skb:kfree_skb), counted by
 * enum skb_drop_reason in a per-CPU array, plus a record per drop. User space
 * names the reasons from the running kernel's BTF.
 *
 * NOT_SPECIFIED is counted like any other reason (the program runs for it
 * anyway, so skipping it would save nothing) but emits no record: on many
 * kernels it fires on paths that are not drops at all, constantly.
 *
 * Drop reasons came with kfree_skb_reason() in 5.17. Before, the tracepoint
 * has only the packet and the address that freed it: drops are counted by
 * that address instead (netdrop_locations), which user space names from
 * /proc/kallsyms, and records carry KSIGHT_NETDROP_NO_REASON. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include <bpf/bpf_endian.h>
#include "ksight/abi/netdrop.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSIGHT_NETDROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} netdrop_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NETDROP_MAX_LOCATIONS);
	__type(key, __u64); /* kernel address; 0: locations past the limit */
	__type(value, __u64);
} netdrop_locations SEC(".maps");

/* The kernel has drop reasons (5.17 on). A constant after load: the branch
 * the running kernel cannot take is never verified. */
static __always_inline bool have_reasons(void)
{
	return bpf_core_type_exists(enum skb_drop_reason);
}

static __always_inline void count_location(__u64 location)
{
	static const __u64 zero, overflow_location = 0;
	__u64 *n = ksight__lookup_or_init(&netdrop_locations, &location, &zero,
					  &overflow_location);

	if (n)
		*n += 1; /* per-CPU value */
}

static __always_inline int handle_drop(void *ctx, __u64 location, __u32 reason, __u16 protocol)
{
	__u32 slot = reason < KSIGHT_NETDROP_SLOTS - 1 ? reason : KSIGHT_NETDROP_SLOTS - 1;
	struct ksight_netdrop_event *ev;
	__u64 pid_tgid, *n;
	char comm[KSIGHT_COMM_LEN];

	if (have_reasons()) {
		n = bpf_map_lookup_elem(&netdrop_counts, &slot);
		if (n)
			*n += 1; /* per-CPU slot */
		/* The enum's values move between kernels: ask the running one. */
		if (reason ==
		    bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NOT_SPECIFIED))
			return 0;
	} else {
		count_location(location);
		reason = KSIGHT_NETDROP_NO_REASON;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	ev = ksight__reserve_record(sizeof(*ev), true); /* always an error */
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

/* kfree_skb(skb, location) gained its third argument, the reason, in 5.17:
 * read only where the kernel has it. */
SEC("tp_btf/kfree_skb")
int netdrop_kfree_skb_tp_btf(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason = have_reasons() ? (__u32)ctx[2] : 0;

	return handle_drop(ctx, ctx[1], reason, bpf_ntohs(BPF_CORE_READ(skb, protocol)));
}

SEC("raw_tp/kfree_skb")
int netdrop_kfree_skb_raw_tp(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 reason = have_reasons() ? (__u32)ctx[2] : 0;

	return handle_drop(ctx, ctx[1], reason, bpf_ntohs(BPF_CORE_READ(skb, protocol)));
}

SEC("tracepoint/skb/kfree_skb")
int netdrop_kfree_skb_tracepoint(struct trace_event_raw_kfree_skb *ctx)
{
	__u32 reason = 0;

	if (bpf_core_field_exists(ctx->reason))
		reason = ctx->reason;
	return handle_drop(ctx, (__u64)ctx->location, reason, ctx->protocol);
}
