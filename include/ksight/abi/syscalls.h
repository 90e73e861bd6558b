/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* syscalls probe: per cgroup and syscall number, a log2 histogram of the
 * latency in microseconds (its count is the number of calls) and the number
 * that failed; aggregated in the kernel (no events). */
#ifndef KSIGHT_ABI_SYSCALLS_H
#define KSIGHT_ABI_SYSCALLS_H

#include "ksight/abi/hist.h"

/* cgroup x syscall pairs with a value of their own; past it, calls are
 * counted under one overflow key (cgroup id 0, syscall number
 * KSIGHT_SYSCALL_NR_OVERFLOW), which user space creates. */
#define KSIGHT_SYSCALLS_MAX_KEYS 8192
#define KSIGHT_SYSCALL_NR_OVERFLOW 0xffffffff

struct ksight_syscall_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 pad;
};

struct ksight_syscall_value {
	struct ksight_log2_hist latency;
	__u64 errors; /* returned -1..-4095 */
};

/* Per process (ksight top only): calls since the last read, which drains
 * the map; LRU, so it cannot fill with processes that are gone. */
#define KSIGHT_SYSCALLS_MAX_PROCESSES 16384

struct ksight_syscall_process {
	__u64 calls;
	char comm[KSIGHT_COMM_LEN]; /* as of the latest call on this CPU */
};

#endif
