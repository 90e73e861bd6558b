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
/* Kernels before 5.17 give no reason: drops are counted per freeing address,
 * for at most this many addresses (address 0 takes the rest). */
#define KSIGHT_NETDROP_MAX_LOCATIONS 1024
/* ksight_netdrop_event::reason where the kernel gives none. */
#define KSIGHT_NETDROP_NO_REASON 0xffffffffu

struct ksight_netdrop_event {
	struct ksight_event_header hdr;
	__u64 location; /* kernel address that freed the packet */
	__u32 reason;   /* enum skb_drop_reason of the running kernel, or _NO_REASON */
	__u16 protocol; /* skb->protocol, host order (0x0800 IPv4, 0x86dd IPv6) */
	__u16 pad;
};

#endif
