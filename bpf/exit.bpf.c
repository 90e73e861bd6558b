// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exit: one record per process exit, from sched_process_exit. Threads other
 * than the group leader are skipped: an operator counts processes. */
#include "ksight.bpf.h"
#include "ksight/abi/exit.h"

_Static_assert(sizeof(struct ksight_exit_event) <= KSIGHT_MAX_EVENT_SIZE, "exit record too big");

static __always_inline int handle_exit(void *ctx, struct task_struct *task)
{
	struct ksight_exit_event *ev;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[KSIGHT_COMM_LEN];

	if ((__u32)pid_tgid != pid_tgid >> 32)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	if (ksight_filter_failed && !BPF_CORE_READ(task, exit_code))
		return 0;

	/* An error: a non-zero exit status or death by a signal. */
	ev = ksight__reserve_record(sizeof(*ev), BPF_CORE_READ(task, exit_code) != 0);
	if (!ev)
		return 0;
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_EXIT, sizeof(*ev), pid_tgid, comm);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* do_exit() stores the code in task->exit_code before this tracepoint. */
	ev->exit_code = BPF_CORE_READ(task, exit_code);
	ev->lifetime_ns = ev->hdr.ktime_ns - BPF_CORE_READ(task, start_time);
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(exit_sched_process_exit_tp_btf, struct task_struct *p)
{
	return handle_exit(ctx, p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(exit_sched_process_exit_raw_tp, struct task_struct *p)
{
	return handle_exit(ctx, p);
}

SEC("tracepoint/sched/sched_process_exit")
int exit_sched_process_exit_tracepoint(void *ctx)
{
	return handle_exit(ctx, (struct task_struct *)bpf_get_current_task());
}
