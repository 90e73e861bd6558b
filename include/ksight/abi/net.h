/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the network probes share: a connection's 4-tuple as the kernel saw it,
 * and the key of the per-cgroup, per-TCP-state counters (tcpretrans,
 * tcpreset). */
#ifndef KSIGHT_ABI_NET_H
#define KSIGHT_ABI_NET_H

#include "ksight/abi/common.h"

#define KSIGHT_AF_INET 2
#define KSIGHT_AF_INET6 10

/* Cgroups with counters of their own; the rest are folded into cgroup id 0. */
#define KSIGHT_NET_MAX_CGROUPS 4096

struct ksight_tuple {
	__u8 saddr[16];  /* local address: 4 bytes used for AF_INET, network order */
	__u8 daddr[16];  /* remote address */
	__u16 sport;     /* local port, host order */
	__u16 dport;     /* remote port, host order */
	__u16 family;    /* KSIGHT_AF_INET or KSIGHT_AF_INET6 */
	__u16 pad;
};

/* TCP state numbers are Linux UAPI (include/net/tcp_states.h): 1 established,
 * 2 syn_sent, ... 12 new_syn_recv; 0 here means "no socket". */
struct ksight_tcp_state_key {
	__u64 cgroup_id;
	__u32 state;
	__u32 kind; /* probe-specific: KSIGHT_TCPRESET_* for tcpreset, 0 otherwise */
};

#endif
