/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* cgroupnet probe: bytes and packets in and out per cgroup, counted by
 * cgroup_skb programs on the cgroup v2 root (no records). */
#ifndef KSIGHT_ABI_CGROUPNET_H
#define KSIGHT_ABI_CGROUPNET_H

#include "ksight/abi/net.h"

struct ksight_cgroupnet_stats {
	__u64 rx_bytes;
	__u64 rx_packets;
	__u64 tx_bytes;
	__u64 tx_packets;
};

#endif
