/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcpconnlat probe: time from connect() (tcp_v4_connect / tcp_v6_connect) to
 * the SYN-ACK that establishes it, one record per connection and a log2
 * histogram in microseconds per cgroup. */
#ifndef KSIGHT_ABI_TCPCONNLAT_H
#define KSIGHT_ABI_TCPCONNLAT_H

#include "ksight/abi/hist.h"
#include "ksight/abi/net.h"

struct ksight_tcpconnlat_event {
	struct ksight_event_header hdr; /* the task that called connect() */
	struct ksight_tuple tuple;
	__u64 latency_ns;
};

#endif
