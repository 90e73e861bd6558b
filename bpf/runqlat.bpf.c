// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* runqlat: how long runnable tasks wait for a CPU, from wake-up (or
 * preemption) to being switched in, as a log2 histogram in microseconds per
 * cgroup, kept in a per-CPU map that user space reads at scrape time. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "ksight/abi/runqlat.h"

#define TASK_RUNNING 0

/* Wake-up times, by thread id; a task is on at most one run queue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u64);
} runq_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_RUNQLAT_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, __u64);
	__type(value, struct ksight_log2_hist);
} runq_hist SEC(".maps");

/* task_struct::state became __state in 5.14 (commit 2f064a59a11f). */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

/* The filters of ksight.bpf.h, applied to the task that waits rather than to
 * the one running when the hook fires. */
static __always_inline bool task_wanted(struct task_struct *t)
{
	char comm[KSIGHT_COMM_LEN];

	if (ksight_filter_tgid && BPF_CORE_READ(t, tgid) != ksight_filter_tgid)
		return false;
	if ((ksight_filter_cgroup || ksight_filter_cgroup_set) &&
	    !ksight__cgroup_wanted(task_cgroup_id(t)))
		return false;
	if (ksight_filter_comm_set) {
		BPF_CORE_READ_STR_INTO(&comm, t, comm);
		if (!ksight__comm_matches(comm))
			return false;
	}
	return true;
}

static __always_inline int enqueued(struct task_struct *t)
{
	__u32 pid = BPF_CORE_READ(t, pid);
	__u64 now;

	if (!pid || !task_wanted(t))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&runq_start, &pid, &now, BPF_ANY);
	return 0;
}

static __always_inline int switched(struct task_struct *prev, struct task_struct *next)
{
	static const struct ksight_log2_hist zero;
	static const __u64 overflow_cgid = 0; /* cgroups past the map's limit */
	struct ksight_log2_hist *hist;
	__u64 *start, delta_us, cgid;
	__u32 pid;

	/* Preempted while runnable: it waits again from now. */
	if (task_state(prev) == TASK_RUNNING)
		enqueued(prev);

	pid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&runq_start, &pid);
	if (!start)
		return 0;
	delta_us = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&runq_start, &pid);

	cgid = task_cgroup_id(next);
	hist = ksight__lookup_or_init(&runq_hist, &cgid, &zero, &overflow_cgid);
	if (hist)
		ksight__hist_record(hist, delta_us);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runqlat_sched_wakeup_tp_btf, struct task_struct *p)
{
	return enqueued(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runqlat_sched_wakeup_new_tp_btf, struct task_struct *p)
{
	return enqueued(p);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_sched_switch_tp_btf, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return switched(prev, next);
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(runqlat_sched_wakeup_raw_tp, struct task_struct *p)
{
	return enqueued(p);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(runqlat_sched_wakeup_new_raw_tp, struct task_struct *p)
{
	return enqueued(p);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(runqlat_sched_switch_raw_tp, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	return switched(prev, next);
}
