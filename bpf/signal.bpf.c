// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* signal: signals generated, from signal:signal_generate: sent by a task
 * (kill, tgkill, a parent's SIGCHLD...) or raised by the kernel on a fault
 * (SIGSEGV, SIGBUS). Every signal is counted in the kernel by number; the
 * ones in ksight_signal_mask (fatal and interesting ones) also make a record.
 * The filters pass a signal when either the sender or the target matches. */
#include "ksight.bpf.h"
#include "ksight/abi/signal.h"

/* Bit n set: signal n makes a record. Set by user space. */
const volatile __u64 ksight_signal_mask = 0;
/* The signals that kill by default with a core or without one, as the
 * sampling's error signal: SIGILL, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGSEGV. */
#define KSIGHT_FATAL_SIGNALS \
	((1ULL << 4) | (1ULL << 6) | (1ULL << 7) | (1ULL << 8) | (1ULL << 9) | (1ULL << 11))

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSIGHT_SIGNAL_MAX);
	__type(key, __u32);
	__type(value, __u64);
} signal_counts SEC(".maps");

struct target {
	__u32 pid;
	__u32 tid;
	__u64 cgroup_id; /* 0: not known (classic tracepoint) */
	const char *comm;
};

static __always_inline bool target_wanted(const struct target *t)
{
	char comm[KSIGHT_COMM_LEN];

	if (ksight_filter_tgid && t->pid != ksight_filter_tgid)
		return false;
	if (!ksight__cgroup_wanted(t->cgroup_id))
		return false;
	if (ksight_filter_comm_set) {
		bpf_probe_read_kernel_str(comm, sizeof(comm), t->comm);
		if (!ksight__comm_matches(comm))
			return false;
	}
	return true;
}

static __always_inline int generated(void *ctx, int sig, int code, const struct target *t,
				     int group, int result)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ksight_signal_event *ev;
	char comm[KSIGHT_COMM_LEN];
	__u32 key = sig;
	__u64 *count;

	if (sig <= 0 || sig >= KSIGHT_SIGNAL_MAX)
		return 0;
	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm) && !target_wanted(t))
		return 0;
	count = bpf_map_lookup_elem(&signal_counts, &key);
	if (count)
		*count += 1;
	if (!(ksight_signal_mask & (1ULL << sig)))
		return 0;

	ev = ksight__reserve_record(sizeof(*ev), ((1ULL << sig) & KSIGHT_FATAL_SIGNALS) != 0);
	if (!ev)
		return 0;
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_SIGNAL, sizeof(*ev), pid_tgid, comm);
	ev->target_pid = t->pid;
	ev->target_tid = t->tid;
	ev->sig = sig;
	ev->code = code;
	ev->result = result;
	ev->group = group;
	if (bpf_probe_read_kernel_str(ev->target_comm, sizeof(ev->target_comm), t->comm) < 0)
		ev->target_comm[0] = '\0';
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}

static __always_inline int from_task(void *ctx, int sig, struct kernel_siginfo *info,
				     struct task_struct *task, int group, int result)
{
	struct target t = {
		.pid = BPF_CORE_READ(task, tgid),
		.tid = BPF_CORE_READ(task, pid),
		.cgroup_id = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id),
		.comm = task->comm,
	};
	int code = 0;

	/* info is SEND_SIG_NOINFO (0) or SEND_SIG_PRIV (1) for kernel-internal
	 * sends: no siginfo to read. */
	if ((unsigned long)info > 1)
		code = BPF_CORE_READ(info, si_code);
	return generated(ctx, sig, code, &t, group, result);
}

SEC("tp_btf/signal_generate")
int BPF_PROG(signal_generate_tp_btf, int sig, struct kernel_siginfo *info,
	     struct task_struct *task, int group, int result)
{
	return from_task(ctx, sig, info, task, group, result);
}

SEC("raw_tp/signal_generate")
int BPF_PROG(signal_generate_raw_tp, int sig, struct kernel_siginfo *info,
	     struct task_struct *task, int group, int result)
{
	return from_task(ctx, sig, info, task, group, result);
}

SEC("tracepoint/signal/signal_generate")
int signal_generate_tracepoint(struct trace_event_raw_signal_generate *ctx)
{
	char comm[KSIGHT_COMM_LEN];
	struct target t = {
		.pid = ctx->pid, /* the tracepoint names the target thread only */
		.tid = ctx->pid,
		.comm = comm,
	};

	/* Not __builtin_memcpy: it lowers to byte loads through a moved ctx
	 * pointer, which the verifier refuses for tracepoint contexts. */
	bpf_probe_read_kernel(comm, sizeof(comm), ctx->comm);

	return generated(ctx, ctx->sig, ctx->code, &t, ctx->group, ctx->result);
}
