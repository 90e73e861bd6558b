/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* offcpu probe: time tasks spend off the CPU (blocked or preempted), per
 * stack, from sched_switch. A task switched out is remembered by thread id
 * with its stacks; when it is switched back in, the time in between (when at
 * least the minimum block time) goes to its stack counts (abi/stacks.h) and
 * to its cgroup's total. */
#ifndef KSIGHT_ABI_OFFCPU_H
#define KSIGHT_ABI_OFFCPU_H

#include "ksight/abi/stacks.h"

/* Threads off the CPU at once that can be followed. */
#define KSIGHT_OFFCPU_MAX_THREADS 32768
/* cgroups with a total between two reads; past it, cgroup id 0. */
#define KSIGHT_OFFCPU_MAX_CGROUPS 1024

struct ksight_offcpu_start {
	__u64 switched_out_ns;
	__u64 cgroup_id;
	__u32 pid; /* thread group id */
	__s32 kernel_stack_id;
	__s32 user_stack_id;
	__u32 stack_set; /* the set whose stack map holds the ids */
	char comm[KSIGHT_COMM_LEN];
};

/* Per cgroup, per CPU: the time and the blocks counted. */
struct ksight_offcpu_total {
	__u64 ns;
	__u64 blocks;
};

#endif
