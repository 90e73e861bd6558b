/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Helpers the network probes share: a socket's 4-tuple and cgroup, the
 * filters applied to a socket's owner rather than to the task that happens to
 * run (state changes, retransmits and resets mostly run in softirq), and the
 * per-cgroup map slot with its fold-into-0 fallback. */
#ifndef KSIGHT_NET_BPF_H
#define KSIGHT_NET_BPF_H

#include <bpf/bpf_endian.h>

#include "bits.bpf.h"
#include "ksight/abi/net.h"

/* A socket's owner, recorded where it is known (connect() and listen() run in
 * the owner's context) for use where it is not. */
struct net_owner {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	char comm[KSIGHT_COMM_LEN];
	__u16 sport; /* the local port once known: gone from the socket at CLOSE */
	__u16 pad[3];
};

static __always_inline void net__owner_from_current(struct net_owner *o)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	o->start_ns = bpf_ktime_get_ns();
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->pid = pid_tgid >> 32;
	o->tid = (__u32)pid_tgid;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->sport = 0;
	o->pad[0] = o->pad[1] = o->pad[2] = 0;
}

/* The cgroup v2 id a socket was charged to when it was created (accepted
 * sockets inherit the listener's). Readable in softirq, unlike the current
 * task's. sock_cgroup_data lost its v1/v2 union and became a plain cgroup
 * pointer in 5.15 (commit 8520e224f547, "bpf, cgroups: Fix cgroup v2 fallback
 * on v1/v2 mixed mode"); older kernels report 0. */
/* Before 5.15, sk_cgrp_data was a union: the cgroup v2 pointer in `val`,
 * unless its low bits say the word holds net_cls/net_prio data instead, in
 * which case the kernel itself takes the socket to be in the root cgroup
 * (sock_cgroup_ptr() of those kernels). */
struct sock_cgroup_data___pre515 {
	__u64 val;
} __attribute__((preserve_access_index));

struct sock___pre515 {
	struct sock_cgroup_data___pre515 sk_cgrp_data;
} __attribute__((preserve_access_index));

static __always_inline __u64 sock_cgroup_id_pre515(const struct sock *sk)
{
	__u64 val = BPF_CORE_READ((struct sock___pre515 *)sk, sk_cgrp_data.val);

	if (val & 3)
		return 1; /* the root cgroup's id */
	return BPF_CORE_READ((struct cgroup *)val, kn, id);
}

static __always_inline __u64 net__sock_cgroup_id(const struct sock *sk)
{
	__u8 state;

	if (!sk)
		return 0;
	/* Time-wait and request sockets share only sock_common with a full
	 * socket (sk_fullsock()): past it there is no sk_cgrp_data to read. */
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV)
		return 0;
	if (bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	return sock_cgroup_id_pre515(sk);
}

static __always_inline void net__sock_tuple(const struct sock *sk, struct ksight_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	t->family = family;
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == KSIGHT_AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)t->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)t->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&t->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&t->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

static __always_inline __u32 net__sock_state(const struct sock *sk)
{
	return sk ? BPF_CORE_READ(sk, __sk_common.skc_state) : 0;
}

/* The trace filters, applied to a recorded owner. Only the cgroup filter can
 * apply to probes that know no owner (pass pid 0 and a NULL comm). */
static __always_inline bool net__owner_wanted(__u32 tgid, const char *comm, __u64 cgroup_id)
{
	if (!ksight__cgroup_wanted(cgroup_id))
		return false;
	if (ksight_filter_tgid && tgid != ksight_filter_tgid)
		return false;
	if (ksight_filter_comm_set && (!comm || !ksight__comm_matches(comm)))
		return false;
	return true;
}

static __always_inline void net__fill_header(struct ksight_event_header *hdr, __u16 probe_id,
					     __u32 size, __u64 cgroup_id, __u32 pid, __u32 tid,
					     const char *comm)
{
	hdr->ktime_ns = bpf_ktime_get_ns();
	hdr->cgroup_id = cgroup_id;
	hdr->pid = pid;
	hdr->tid = tid;
	hdr->probe_id = probe_id;
	hdr->abi_version = KSIGHT_ABI_VERSION;
	hdr->size = size;
	if (comm)
		__builtin_memcpy(hdr->comm, comm, KSIGHT_COMM_LEN);
	else
		__builtin_memset(hdr->comm, 0, KSIGHT_COMM_LEN);
}

/* The value of `key` in a per-cgroup map, created zeroed when absent; when
 * the map is full, the slot of cgroup 0 (which user space creates at start). */
static __always_inline void *net__cgroup_slot(void *map, __u64 *key, const void *zero)
{
	static const __u64 overflow_cgroup = 0;

	return ksight__lookup_or_init(map, key, zero, &overflow_cgroup);
}

/* tcp_send_reset became an event of its own (with the reset's reason) in
 * 6.10, and tcp_retransmit_skb after 6.12 (6.18 has it). Before, each was an
 * event of the class tcp_event_sk_skb, whose context starts with the same two
 * pointers. Classic-tracepoint programs read them through whichever struct
 * the running kernel has. */
struct trace_event_raw_tcp_event_sk_skb___pre {
	struct trace_entry ent;
	const void *skbaddr;
	const void *skaddr;
} __attribute__((preserve_access_index));

/* Read with bpf_core_read rather than loaded from ctx: clang merges the two
 * branches into one load at a computed offset, and the verifier refuses a
 * load through a moved ctx pointer. */
#define net__tp_sk_skb_field(ctx, own_struct, field)                                      \
	({                                                                                \
		const void *v__ = NULL;                                                   \
		if (bpf_core_type_exists(struct own_struct))                              \
			bpf_core_read(&v__, sizeof(v__), &((struct own_struct *)(ctx))->field); \
		else                                                                      \
			bpf_core_read(&v__, sizeof(v__),                                  \
				      &((struct trace_event_raw_tcp_event_sk_skb___pre *)(ctx))->field); \
		v__;                                                                      \
	})

#endif
