// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcp: the life of every TCP connection from sock:inet_sock_set_state, the
 * tracepoint the kernel fires on each state change (tcplife's approach).
 *
 *   connect():  CLOSE -> SYN_SENT, in the caller's context: the owner is
 *               recorded here, keyed by socket (the port is not chosen yet).
 *   listen():   CLOSE -> LISTEN, in the caller's context: the owner of every
 *               connection the listener accepts, keyed by netns and port.
 *   opened:     SYN_SENT -> ESTABLISHED (active) or SYN_RECV -> ESTABLISHED
 *               (passive), usually in softirq, where `current` is whoever
 *               happened to run, so the owner comes from the maps above.
 *   closed:     an established connection reaches CLOSE: bytes, RTT and
 *               duration are read from the tcp_sock before it goes.
 *
 * Counters and the duration histogram are kept per cgroup in a per-CPU map
 * read at scrape time; the opens and closes are also records. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/tcp.h"

_Static_assert(sizeof(struct ksight_tcp_event) <= KSIGHT_MAX_EVENT_SIZE, "tcp record too big");

/* Owners of connecting and established sockets, by socket address. LRU: a
 * socket whose CLOSE we never see (ksight started mid-way) must not pin a slot. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct net_owner);
} tcp_owners SEC(".maps");

struct listen_key {
	__u32 netns; /* network namespace inode number */
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct listen_key);
	__type(value, struct net_owner);
} tcp_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, __u64);
	__type(value, struct ksight_tcp_stats);
} tcp_stats SEC(".maps");

static __always_inline void listen_key_of(const struct sock *sk, struct listen_key *k)
{
	k->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	k->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k->pad = 0;
}

static __always_inline void emit(void *ctx, const struct sock *sk, const struct net_owner *o,
				 __u8 kind, __u64 duration_ns, __u64 acked, __u64 received,
				 __u32 srtt_us)
{
	struct ksight_tcp_event *ev = ksight__reserve(sizeof(*ev));

	if (!ev)
		return;
	net__fill_header(&ev->hdr, KSIGHT_PROBE_TCP, sizeof(*ev), o->cgroup_id, o->pid, o->tid,
			 o->comm);
	net__sock_tuple(sk, &ev->tuple);
	/* tcp_set_state() releases the port (inet_put_port) before it fires the
	 * tracepoint for CLOSE: the port recorded at open stands in. */
	if (!ev->tuple.sport)
		ev->tuple.sport = o->sport;
	ev->duration_ns = duration_ns;
	ev->bytes_acked = acked;
	ev->bytes_received = received;
	ev->srtt_us = srtt_us;
	ev->kind = kind;
	ev->pad[0] = ev->pad[1] = ev->pad[2] = 0;
	ksight__submit(ctx, ev, sizeof(*ev));
}

static __always_inline struct ksight_tcp_stats *stats_for(__u64 cgroup_id)
{
	static const struct ksight_tcp_stats zero;

	return net__cgroup_slot(&tcp_stats, &cgroup_id, &zero);
}

static __always_inline int opened(void *ctx, const struct sock *sk, bool active)
{
	__u64 key = (__u64)sk;
	struct net_owner o = {}, *known;
	struct ksight_tcp_stats *st;

	if (active) {
		known = bpf_map_lookup_elem(&tcp_owners, &key);
		if (known)
			o = *known;
		else /* connect() ran before we attached */
			o.cgroup_id = net__sock_cgroup_id(sk);
	} else {
		struct listen_key lk;

		listen_key_of(sk, &lk);
		known = bpf_map_lookup_elem(&tcp_listeners, &lk);
		if (known)
			o = *known;
		/* The accepted socket is charged to the listener's cgroup. */
		o.cgroup_id = net__sock_cgroup_id(sk) ?: o.cgroup_id;
	}
	o.start_ns = bpf_ktime_get_ns();
	o.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!net__owner_wanted(o.pid, o.comm, o.cgroup_id)) {
		bpf_map_delete_elem(&tcp_owners, &key);
		return 0;
	}
	bpf_map_update_elem(&tcp_owners, &key, &o, BPF_ANY);

	st = stats_for(o.cgroup_id);
	if (st) {
		if (active)
			st->opened_active += 1; /* per-CPU value: no atomics needed */
		else
			st->opened_passive += 1;
	}
	emit(ctx, sk, &o, active ? KSIGHT_TCP_CONNECT : KSIGHT_TCP_ACCEPT, 0, 0, 0, 0);
	return 0;
}

static __always_inline int closed(void *ctx, const struct sock *sk, int oldstate)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 key = (__u64)sk, duration_ns = 0, acked, received;
	struct net_owner o = {}, *known;
	struct ksight_tcp_stats *st;
	__u32 srtt_us;

	known = bpf_map_lookup_elem(&tcp_owners, &key);
	/* Never established: a refused or timed-out connect, a request that
	 * died in SYN_RECV, a listener going away. Not a connection closing. */
	if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV || oldstate == TCP_LISTEN ||
	    oldstate == TCP_NEW_SYN_RECV || oldstate == TCP_CLOSE) {
		if (known)
			bpf_map_delete_elem(&tcp_owners, &key);
		return 0;
	}
	if (known) {
		o = *known;
		duration_ns = bpf_ktime_get_ns() - o.start_ns;
		bpf_map_delete_elem(&tcp_owners, &key);
	} else {
		/* Opened before we attached, or filtered out at open. */
		o.cgroup_id = net__sock_cgroup_id(sk);
		if (!net__owner_wanted(0, NULL, o.cgroup_id))
			return 0;
	}
	acked = BPF_CORE_READ(tp, bytes_acked);
	received = BPF_CORE_READ(tp, bytes_received);
	srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3; /* stored as 8 * srtt */

	st = stats_for(o.cgroup_id);
	if (st) {
		st->closed += 1;
		st->bytes_acked += acked;
		st->bytes_received += received;
		if (known)
			ksight__hist_record(&st->duration, duration_ns / 1000);
	}
	emit(ctx, sk, &o, KSIGHT_TCP_CLOSE, duration_ns, acked, received, srtt_us);
	return 0;
}

static __always_inline int handle_state(void *ctx, const struct sock *sk, int oldstate,
					int newstate)
{
	__u64 key = (__u64)sk;

	switch (newstate) {
	case TCP_SYN_SENT: {
		struct net_owner o;

		net__owner_from_current(&o);
		bpf_map_update_elem(&tcp_owners, &key, &o, BPF_ANY);
		return 0;
	}
	case TCP_LISTEN: {
		struct listen_key lk;
		struct net_owner o;

		listen_key_of(sk, &lk);
		net__owner_from_current(&o);
		bpf_map_update_elem(&tcp_listeners, &lk, &o, BPF_ANY);
		return 0;
	}
	case TCP_ESTABLISHED:
		if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)
			return opened(ctx, sk, oldstate == TCP_SYN_SENT);
		return 0;
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN) {
			struct listen_key lk;

			listen_key_of(sk, &lk);
			bpf_map_delete_elem(&tcp_listeners, &lk);
			return 0;
		}
		return closed(ctx, sk, oldstate);
	}
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_inet_sock_set_state_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0; /* SCTP and MPTCP fire it too */
	return handle_state(ctx, sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tcp_inet_sock_set_state_raw_tp, const struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return handle_state(ctx, sk, oldstate, newstate);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_inet_sock_set_state_tracepoint(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return handle_state(ctx, (const struct sock *)ctx->skaddr, ctx->oldstate, ctx->newstate);
}
