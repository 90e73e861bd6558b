/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcp probe: connection life cycle from sock:inet_sock_set_state. Counters and
 * the duration histogram are aggregated in the kernel per cgroup; opens and
 * closes are also emitted as records, with the 4-tuple. */
#ifndef KSIGHT_ABI_TCP_H
#define KSIGHT_ABI_TCP_H

#include "ksight/abi/hist.h"
#include "ksight/abi/net.h"

#define KSIGHT_TCP_CONNECT 0 /* active open: SYN_SENT -> ESTABLISHED */
#define KSIGHT_TCP_ACCEPT 1  /* passive open: SYN_RECV -> ESTABLISHED */
#define KSIGHT_TCP_CLOSE 2   /* an established connection reached CLOSE */

struct ksight_tcp_event {
	struct ksight_event_header hdr; /* pid/comm/cgroup of the socket's owner */
	struct ksight_tuple tuple;
	__u64 duration_ns;    /* close: time since ESTABLISHED (0 if opened before ksight) */
	__u64 bytes_acked;    /* close: tcp_sock bytes_acked, i.e. bytes sent */
	__u64 bytes_received; /* close: tcp_sock bytes_received */
	__u32 srtt_us;        /* close: smoothed RTT */
	__u8 kind;            /* KSIGHT_TCP_* */
	__u8 pad[3];
};

/* Per cgroup of the socket's owner, per CPU. */
struct ksight_tcp_stats {
	__u64 opened_active;
	__u64 opened_passive;
	__u64 closed;
	__u64 bytes_acked;
	__u64 bytes_received;
	struct ksight_log2_hist duration; /* microseconds, at close */
};

#endif
