// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cgroupnet: bytes and packets in and out per cgroup, from cgroup_skb programs
 * attached to the cgroup v2 root, so they run for every socket of every
 * cgroup below it. The cgroup is the socket's (bpf_skb_cgroup_id), which is
 * right in softirq too, where the current task is not the receiver. The
 * programs only count: they return 1, letting every packet through. */
#include "ksight.bpf.h"
#include "net.bpf.h"
#include "ksight/abi/cgroupnet.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_NET_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory for the keys in use, not max x CPUs */
	__type(key, __u64);
	__type(value, struct ksight_cgroupnet_stats);
} cgroupnet_stats SEC(".maps");

static __always_inline int count(struct __sk_buff *skb, bool ingress)
{
	static const struct ksight_cgroupnet_stats zero;
	struct ksight_cgroupnet_stats *st;
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);

	st = net__cgroup_slot(&cgroupnet_stats, &cgroup_id, &zero);
	if (!st)
		return 1;
	if (ingress) {
		st->rx_bytes += skb->len; /* per-CPU value */
		st->rx_packets += 1;
	} else {
		st->tx_bytes += skb->len;
		st->tx_packets += 1;
	}
	return 1;
}

SEC("cgroup_skb/ingress")
int cgroupnet_ingress(struct __sk_buff *skb)
{
	return count(skb, true);
}

SEC("cgroup_skb/egress")
int cgroupnet_egress(struct __sk_buff *skb)
{
	return count(skb, false);
}
