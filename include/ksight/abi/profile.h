/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* profile probe: on-CPU samples of the software cpu-clock event, counted in
 * the kernel per cgroup and process, split into user and kernel mode (no
 * events). User space reads and deletes the entries at every refresh, so the
 * map holds what happened since the last read, not every pid ever seen. */
#ifndef KSIGHT_ABI_PROFILE_H
#define KSIGHT_ABI_PROFILE_H

#include "ksight/abi/common.h"

/* processes sampled between two reads; past it, samples go to the key with
 * pid 0 and cgroup id 0, which user space creates. */
/* Preallocated (perf_event programs may not allocate): 4096 x 32 bytes per
 * CPU, 8 MiB on a 64-CPU node. */
#define KSIGHT_PROFILE_MAX_KEYS 4096

struct ksight_profile_key {
	__u64 cgroup_id;
	__u32 pid; /* thread group id */
	__u32 pad;
};

struct ksight_profile_value {
	__u64 user;
	__u64 kernel;
	char comm[KSIGHT_COMM_LEN];
};

#endif
