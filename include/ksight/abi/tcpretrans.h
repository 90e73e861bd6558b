/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcpretrans probe: every retransmitted segment (tcp:tcp_retransmit_skb),
 * counted per cgroup and TCP state in the kernel, and one record each. */
#ifndef KSIGHT_ABI_TCPRETRANS_H
#define KSIGHT_ABI_TCPRETRANS_H

#include "ksight/abi/net.h"

struct ksight_tcpretrans_event {
	struct ksight_event_header hdr; /* cgroup of the socket; pid/comm of whoever ran */
	struct ksight_tuple tuple;
	__u32 state; /* TCP state of the socket */
	__u32 pad;
};

#endif
