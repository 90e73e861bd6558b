/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcpreset probe: RSTs sent (tcp:tcp_send_reset) and received
 * (tcp:tcp_receive_reset), counted per cgroup, TCP state and direction in the
 * kernel, and one record each. */
#ifndef KSIGHT_ABI_TCPRESET_H
#define KSIGHT_ABI_TCPRESET_H

#include "ksight/abi/net.h"

#define KSIGHT_TCPRESET_SENT 0
#define KSIGHT_TCPRESET_RECEIVED 1

struct ksight_tcpreset_event {
	struct ksight_event_header hdr; /* cgroup of the socket (0: no socket) */
	struct ksight_tuple tuple;      /* the reset's own source and destination */
	__u32 state;                    /* TCP state; 0 when no socket matched */
	__u32 kind;                     /* KSIGHT_TCPRESET_* */
};

#endif
