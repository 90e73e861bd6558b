// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exec: one record per successful exec, from sched_process_exec. The handler
 * exists once; the SEC functions below are the attach variants user space
 * chooses from (tp_btf, then raw_tp, then the classic tracepoint). */
#include "ksight.bpf.h"
#include "ksight/abi/exec.h"

_Static_assert(sizeof(struct ksight_exec_event) <= KSIGHT_MAX_EVENT_SIZE, "exec record too big");

static __always_inline int handle_exec(void *ctx, struct task_struct *task, const char *filename)
{
	struct ksight_exec_event *ev;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[KSIGHT_COMM_LEN];
	unsigned long arg_start, arg_end, len;

	/* At this tracepoint comm already names the new program. */
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;

	ev = ksight__reserve(sizeof(*ev));
	if (!ev)
		return 0;
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_EXEC, sizeof(*ev), pid_tgid, comm);
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->pad[0] = ev->pad[1] = ev->pad[2] = 0;
	if (bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), filename) < 0)
		ev->filename[0] = '\0';

	/* argv lives on the new program's stack, between mm->arg_start and
	 * mm->arg_end, already in place when the exec tracepoint fires. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	ev->args_truncated = len > KSIGHT_EXEC_ARGS_LEN;
	if (len > KSIGHT_EXEC_ARGS_LEN)
		len = KSIGHT_EXEC_ARGS_LEN;
	if (len && bpf_probe_read_user(ev->args, len & (KSIGHT_EXEC_ARGS_LEN * 2 - 1),
				       (const void *)arg_start))
		len = 0;
	ev->args_len = len;

	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_sched_process_exec_tp_btf, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return handle_exec(ctx, p, BPF_CORE_READ(bprm, filename));
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(exec_sched_process_exec_raw_tp, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	return handle_exec(ctx, p, BPF_CORE_READ(bprm, filename));
}

SEC("tracepoint/sched/sched_process_exec")
int exec_sched_process_exec_tracepoint(struct trace_event_raw_sched_process_exec *ctx)
{
	/* __data_loc: the low 16 bits are the offset of the string in the record. */
	unsigned int off = ctx->__data_loc_filename & 0xFFFF;

	return handle_exec(ctx, (struct task_struct *)bpf_get_current_task(), (const char *)ctx + off);
}
