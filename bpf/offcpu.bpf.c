// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* offcpu: time tasks spend off the CPU, per stack, as libbpf-tools'
 * offcputime measures it. At sched_switch, the task switched out (the
 * current task, whose stacks can be walked) is remembered with its stacks;
 * when it is switched back in, the time in between, if at least
 * offcpu_min_block_ns, is added to its stack counts (stacks.bpf.h) and to its
 * cgroup's total. Shorter blocks cost a map update and delete, nothing more. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "stacks.bpf.h"
#include "ksight/abi/offcpu.h"

const volatile __u64 offcpu_min_block_ns = 1000000;
/* Fixed for the run: without stacks, only the per-cgroup totals. */
const volatile __u8 offcpu_stacks = 0;

/* Threads off the CPU, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KSIGHT_OFFCPU_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct ksight_offcpu_start);
} offcpu_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_OFFCPU_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct ksight_offcpu_total);
} offcpu_totals SEC(".maps");

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

/* The filters of ksight.bpf.h, for the task switched out. */
static __always_inline bool task_wanted(struct task_struct *t, const char *comm)
{
	if (ksight_filter_tgid && BPF_CORE_READ(t, tgid) != ksight_filter_tgid)
		return false;
	if ((ksight_filter_cgroup || ksight_filter_cgroup_set) &&
	    !ksight__cgroup_wanted(task_cgroup_id(t)))
		return false;
	if (ksight_filter_comm_set && !ksight__comm_matches(comm))
		return false;
	return true;
}

static __always_inline void switched_out(void *ctx, struct task_struct *prev)
{
	struct ksight_offcpu_start start = {};
	struct ksight_stack_key stacks = {.kernel_stack_id = -1, .user_stack_id = -1};
	__u32 tid = BPF_CORE_READ(prev, pid);

	if (!tid)
		return; /* the idle task */
	BPF_CORE_READ_STR_INTO(&start.comm, prev, comm);
	if (!task_wanted(prev, start.comm))
		return;
	/* prev is still the current task here: its stacks are walkable. While
	 * stack taking is paused the block is still timed for the totals, and
	 * marked (stack_set 2) so that it is not counted with stacks later. */
	if (offcpu_stacks && !stacks__paused())
		stacks__take(ctx, stacks__active_set(), &stacks);
	else
		stacks.stack_set = KSIGHT_STACK_SET_NONE;
	start.switched_out_ns = bpf_ktime_get_ns();
	start.cgroup_id = task_cgroup_id(prev);
	start.pid = BPF_CORE_READ(prev, tgid);
	start.kernel_stack_id = stacks.kernel_stack_id;
	start.user_stack_id = stacks.user_stack_id;
	start.stack_set = stacks.stack_set;
	bpf_map_update_elem(&offcpu_start, &tid, &start, BPF_ANY);
	if (offcpu_stacks && stacks.stack_set != KSIGHT_STACK_SET_NONE)
		stacks__announce(ctx, KSIGHT_PROBE_OFFCPU, (__u64)start.pid << 32 | tid, start.comm);
}

static __always_inline void switched_in(struct task_struct *next)
{
	static const struct ksight_offcpu_total zero;
	static const __u64 overflow_cgid = 0; /* cgroups past the map's limit */
	struct ksight_offcpu_start *start;
	struct ksight_offcpu_total *total;
	struct ksight_stack_key key = {};
	__u32 tid = BPF_CORE_READ(next, pid);
	__u64 delta;

	start = bpf_map_lookup_elem(&offcpu_start, &tid);
	if (!start)
		return;
	delta = bpf_ktime_get_ns() - start->switched_out_ns;
	if (delta >= offcpu_min_block_ns) {
		key.cgroup_id = start->cgroup_id;
		key.pid = start->pid;
		key.kernel_stack_id = start->kernel_stack_id;
		key.user_stack_id = start->user_stack_id;
		key.stack_set = start->stack_set;
		/* Into the set active now, which user space does not drain
		 * under us; the key still names the set holding the stacks,
		 * which user space keeps while a block refers to it. The count
		 * goes in before the start entry goes away, the order user
		 * space relies on (stack_sets.cpp). */
		if (offcpu_stacks && key.stack_set != KSIGHT_STACK_SET_NONE && !stacks__paused())
			stacks__count(stacks__active_set(), &key, delta, start->comm);
		total = ksight__lookup_or_init(&offcpu_totals, &key.cgroup_id, &zero,
					      &overflow_cgid);
		if (total) {
			total->ns += delta;
			total->blocks += 1;
		}
	}
	bpf_map_delete_elem(&offcpu_start, &tid);
}

static __always_inline int switched(void *ctx, struct task_struct *prev, struct task_struct *next)
{
	switched_out(ctx, prev);
	switched_in(next);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_sched_switch_tp_btf, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return switched(ctx, prev, next);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(offcpu_sched_switch_raw_tp, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return switched(ctx, prev, next);
}
