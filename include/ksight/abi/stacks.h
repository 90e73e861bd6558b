/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Stack counts of the profile and offcpu probes (issue 15), shared by both:
 * the kernel counts samples (or blocks) per process, cgroup, kernel stack and
 * user stack in a hash whose stack ids point into a BPF_MAP_TYPE_STACK_TRACE
 * map. There are two such (counts, stacks) sets; the program writes the one
 * ksight_stack_set names, user space flips it and drains the other
 * (bpf/include/stacks.bpf.h, src/probes/stack_sets.cpp). */
#ifndef KSIGHT_ABI_STACKS_H
#define KSIGHT_ABI_STACKS_H

#include "ksight/abi/common.h"

/* Frames kept per stack: the kernel's limit (PERF_MAX_STACK_DEPTH). */
#define KSIGHT_STACK_DEPTH 127
/* Distinct stacks per set, and (process, stacks) keys per set. A stack is
 * KSIGHT_STACK_DEPTH x 8 bytes plus ~32 of bucket: 8192 of them ~8.2 MiB per
 * set; the counts are 8192 x ~100 bytes. Both sets are sized 1 when stacks
 * are off. */
#define KSIGHT_STACK_MAX_STACKS 8192
#define KSIGHT_STACK_MAX_KEYS 8192
/* ksight_stack_key.stack_set of an offcpu block that began while stack
 * taking was paused: it has no stacks and is not counted per stack. */
#define KSIGHT_STACK_SET_NONE 2
/* Processes remembered as seen, to announce each new one once. */
#define KSIGHT_STACK_SEEN_PIDS 16384

struct ksight_stack_key {
	__u64 cgroup_id;
	__u32 pid;             /* thread group id */
	__s32 kernel_stack_id; /* negative: no kernel stack (none taken, or lost) */
	__s32 user_stack_id;   /* negative: no user stack (kernel thread, or lost) */
	/* The set whose stack map holds the two ids: the counts' own set,
	 * except for an offcpu block taken before a flip and counted after. */
	__u32 stack_set;
};

struct ksight_stack_value {
	__u64 count;    /* samples (profile) or blocks (offcpu) */
	__u64 value_ns; /* offcpu: time off the CPU; profile: 0, user space multiplies */
	char comm[KSIGHT_COMM_LEN];
};

/* Record of the profile and offcpu probes (the only record they emit): the
 * first sample of a process since it was last forgotten, so user space can
 * read /proc/PID/maps while the process still exists. The header says it all. */
struct ksight_new_process_event {
	struct ksight_event_header hdr;
};

#endif
