// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscalls: every system call, counted per cgroup and syscall number with its
 * latency (log2 histogram, microseconds) and failures, from raw_syscalls
 * sys_enter/sys_exit. Runs on every syscall of the machine: the hot path is
 * one timestamp into a per-thread slot at enter, and one map update at exit. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "ksight/abi/syscalls.h"

#define MAX_ERRNO 4095

struct call {
	__u64 start_ns;
	__u32 nr;
	__u32 pad;
};

/* The call each thread is in. LRU: threads that die inside a syscall, or sit
 * in one for ever, age out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct call);
} syscall_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_SYSCALLS_MAX_KEYS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, struct ksight_syscall_key);
	__type(value, struct ksight_syscall_value);
} syscall_stats SEC(".maps");

/* Calls per process as well, for `ksight top`; off in the daemon. */
const volatile __u8 ksight_syscalls_per_process = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, KSIGHT_SYSCALLS_MAX_PROCESSES);
	__type(key, __u32);
	__type(value, struct ksight_syscall_process);
} syscall_per_process SEC(".maps");

static __always_inline void count_process(void)
{
	static const struct ksight_syscall_process zero;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct ksight_syscall_process *p = bpf_map_lookup_elem(&syscall_per_process, &tgid);

	if (!p) {
		bpf_map_update_elem(&syscall_per_process, &tgid, &zero, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&syscall_per_process, &tgid);
		if (!p)
			return;
	}
	p->calls += 1;
	/* The command as of this call: a process that execs changes it. */
	bpf_get_current_comm(p->comm, sizeof(p->comm));
}

static __always_inline int entered(long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct call c = {};

	if (id < 0 || !ksight__current_wanted(pid_tgid))
		return 0;
	c.start_ns = bpf_ktime_get_ns();
	c.nr = (__u32)id;
	bpf_map_update_elem(&syscall_inflight, &tid, &c, BPF_ANY);
	return 0;
}

static __always_inline int exited(long ret)
{
	static const struct ksight_syscall_value zero;
	static const struct ksight_syscall_key overflow = { .nr = KSIGHT_SYSCALL_NR_OVERFLOW };
	struct ksight_syscall_key key = {};
	struct ksight_syscall_value *value;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&syscall_inflight, &tid);
	__u64 delta_us;

	if (!c)
		return 0;
	delta_us = (bpf_ktime_get_ns() - c->start_ns) / 1000;
	key.cgroup_id = bpf_get_current_cgroup_id();
	key.nr = c->nr;
	bpf_map_delete_elem(&syscall_inflight, &tid);

	value = ksight__lookup_or_init(&syscall_stats, &key, &zero, &overflow);
	if (!value)
		return 0;
	ksight__hist_record(&value->latency, delta_us);
	if (ret < 0 && ret >= -MAX_ERRNO)
		value->errors += 1;
	if (ksight_syscalls_per_process)
		count_process();
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(syscalls_sys_enter_tp_btf, struct pt_regs *regs, long id)
{
	return entered(id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(syscalls_sys_exit_tp_btf, struct pt_regs *regs, long ret)
{
	return exited(ret);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(syscalls_sys_enter_raw_tp, struct pt_regs *regs, long id)
{
	return entered(id);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(syscalls_sys_exit_raw_tp, struct pt_regs *regs, long ret)
{
	return exited(ret);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int syscalls_sys_enter_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	return entered(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int syscalls_sys_exit_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	return exited(ctx->ret);
}
