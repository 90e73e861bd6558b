/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* netdrop probe: packets freed as dropped (skb:kfree_skb), counted by drop
 * reason in the kernel; a record per drop except the constant stream of
 * NOT_SPECIFIED ones. */
#ifndef KSIGHT_ABI_NETDROP_H
#define KSIGHT_ABI_NETDROP_H

#include "ksight/abi/common.h"

/* enum skb_drop_reason values below this have a slot each; the last slot takes
 * everything else (subsystem-specific reasons carry high bits). */
#define KSIGHT_NETDROP_SLOTS 512

struct ksight_netdrop_event {
	struct ksight_event_header hdr;
	__u64 location; /* kernel address that freed the packet */
	__u32 reason;   /* enum skb_drop_reason of the running kernel */
	__u16 protocol; /* skb->protocol, host order (0x0800 IPv4, 0x86dd IPv6) */
	__u16 pad;
};

#endif
