// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* open: one record per openat/openat2, with the path, flags, and the fd or
 * error. The syscall tracepoints need an enter/exit pair (the path pointer
 * and flags at enter, the result at exit), joined by thread id; fexit on
 * do_sys_openat2 sees both at once. */
#include "ksight.bpf.h"
#include "ksight/abi/open.h"

_Static_assert(sizeof(struct ksight_open_event) <= KSIGHT_MAX_EVENT_SIZE, "open record too big");

struct open_args {
	const char *path;
	__u32 flags;
	__u32 pad;
};

/* Calls in flight, by thread. Bounded: a thread is in one syscall at a time,
 * so this needs as many entries as threads that open concurrently. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct open_args);
} open_inflight SEC(".maps");

/* Opens by result: slot 0 counts successes, slot e the failures with errno
 * e (the last slot takes larger ones). Counted before the rate limit, so the
 * numbers stay exact when records are dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSIGHT_OPEN_RESULTS);
	__type(key, __u32);
	__type(value, __u64);
} open_results SEC(".maps");

static __always_inline void count_result(long ret)
{
	__u32 slot = ret >= 0 ? 0 : (__u32)-ret;
	__u64 *count;

	if (slot >= KSIGHT_OPEN_RESULTS)
		slot = KSIGHT_OPEN_RESULTS - 1;
	count = bpf_map_lookup_elem(&open_results, &slot);
	if (count)
		*count += 1;
}

static __always_inline void emit_open(void *ctx, __u64 pid_tgid, const char *comm,
				      const char *path, __u32 flags, long ret)
{
	struct ksight_open_event *ev = ksight__reserve_record(sizeof(*ev), ret < 0);

	if (!ev)
		return;
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_OPEN, sizeof(*ev), pid_tgid, comm);
	ev->ret = (__s32)ret;
	ev->flags = flags;
	if (bpf_probe_read_user_str(ev->path, sizeof(ev->path), path) < 0)
		ev->path[0] = '\0';
	ksight__submit(ctx, ev, sizeof(*ev));
}

static __always_inline int handle_enter(const char *path, __u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	char comm[KSIGHT_COMM_LEN];
	struct open_args args = { .path = path, .flags = flags };

	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	if (bpf_map_update_elem(&open_inflight, &tid, &args, BPF_ANY))
		ksight__count_lost(KSIGHT_DROP_BUFFER_FULL);
	return 0;
}

static __always_inline int handle_exit(void *ctx, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	char comm[KSIGHT_COMM_LEN];
	struct open_args *args = bpf_map_lookup_elem(&open_inflight, &tid);

	if (!args)
		return 0; /* filtered out at enter, or entered before we attached */
	bpf_get_current_comm(comm, sizeof(comm));
	count_result(ret);
	if (!ksight_filter_failed || ret < 0)
		emit_open(ctx, pid_tgid, comm, args->path, args->flags, ret);
	bpf_map_delete_elem(&open_inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int open_enter_openat_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	return handle_enter((const char *)ctx->args[1], (__u32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int open_exit_openat_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	return handle_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int open_enter_openat2_tracepoint(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return handle_enter((const char *)ctx->args[1], (__u32)how.flags);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int open_exit_openat2_tracepoint(struct trace_event_raw_sys_exit *ctx)
{
	return handle_exit(ctx, ctx->ret);
}

/* Where trampolines work: one program, no map, both arguments and result. */
SEC("fexit/do_sys_openat2")
int BPF_PROG(open_do_sys_openat2_fexit, int dfd, const char *filename, struct open_how *how, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	char comm[KSIGHT_COMM_LEN];

	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	count_result(ret);
	if (ksight_filter_failed && ret >= 0)
		return 0;
	emit_open(ctx, pid_tgid, comm, filename, (__u32)BPF_CORE_READ(how, flags), ret);
	return 0;
}
