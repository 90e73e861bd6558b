// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* oomkill: one record per OOM kill, from oom:mark_victim. The classic
 * tracepoint is the source: it carries the victim's memory figures (kernels
 * >= 6.0). Older ones give only the pid: where the victim is the task that
 * ran out of memory (the usual case in a memory cgroup), its command and
 * figures are read from the task itself; otherwise they stay empty. OOM kills
 * are rare, so the cost of the hook does not matter. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "ksight/abi/oomkill.h"

/* OOM kills by the cgroup v2 id of the task that ran out of memory; counted
 * before the rate limit, so the count is exact. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_OOMKILL_MAX_CGROUPS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, __u64);
	__type(value, __u64);
} oom_kills SEC(".maps");

/* The pre-6.0 layout: only the pid. */
struct trace_event_raw_mark_victim___pre60 {
	struct trace_entry ent;
	int pid;
} __attribute__((preserve_access_index));

/* KiB per page, set by user space (4 on x86). */
const volatile __u32 oomkill_page_kb = 4;

/* mm counters before 6.2 (atomic, not per-CPU), indexed by MM_FILEPAGES (0),
 * MM_ANONPAGES (1), MM_SWAPENTS (2), MM_SHMEMPAGES (3). */
struct mm_rss_stat___pre62 {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));

struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
	unsigned long total_vm;
} __attribute__((preserve_access_index));

/* The figures the 6.0 tracepoint gives, read from the victim when it is the
 * current task (see the top of the file). */
static __always_inline void victim_from_current(struct ksight_oomkill_event *ev)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct mm_struct___pre62 *mm = (struct mm_struct___pre62 *)BPF_CORE_READ(task, mm);

	bpf_get_current_comm(ev->victim_comm, sizeof(ev->victim_comm));
	ev->victim_uid = (__u32)bpf_get_current_uid_gid();
	ev->oom_score_adj = BPF_CORE_READ(task, signal, oom_score_adj);
	if (!mm || !bpf_core_field_exists(mm->rss_stat.count))
		return;
	ev->total_vm_kb = BPF_CORE_READ(mm, total_vm) * oomkill_page_kb;
	ev->file_rss_kb = BPF_CORE_READ(mm, rss_stat.count[0].counter) * oomkill_page_kb;
	ev->anon_rss_kb = BPF_CORE_READ(mm, rss_stat.count[1].counter) * oomkill_page_kb;
	ev->shmem_rss_kb = BPF_CORE_READ(mm, rss_stat.count[3].counter) * oomkill_page_kb;
}

SEC("tracepoint/oom/mark_victim")
int oomkill_mark_victim_tracepoint(struct trace_event_raw_mark_victim *ctx)
{
	static const __u64 zero = 0, overflow_cgid = 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cgid = bpf_get_current_cgroup_id();
	struct ksight_oomkill_event *ev;
	char comm[KSIGHT_COMM_LEN];
	__u64 *count;

	bpf_get_current_comm(comm, sizeof(comm));
	if (!ksight__wanted(pid_tgid >> 32, comm))
		return 0;
	count = ksight__lookup_or_init(&oom_kills, &cgid, &zero, &overflow_cgid);
	if (count)
		*count += 1;
	ev = ksight__reserve_record(sizeof(*ev), true); /* always an error */
	if (!ev)
		return 0;
	__builtin_memset(ev, 0, sizeof(*ev));
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_OOMKILL, sizeof(*ev), pid_tgid, comm);
	ev->victim_pid = BPF_CORE_READ((struct trace_event_raw_mark_victim___pre60 *)ctx, pid);
	if (bpf_core_field_exists(ctx->total_vm)) {
		/* Already in KiB: the tracepoint scales pages (PG_COUNT_TO_KB). */
		ev->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		ev->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		ev->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		ev->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
		ev->pgtables_kb = BPF_CORE_READ(ctx, pgtables);
		ev->victim_uid = BPF_CORE_READ(ctx, uid);
		ev->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	} else if (ev->victim_pid == (__u32)pid_tgid) {
		victim_from_current(ev);
	}
	if (bpf_core_field_exists(ctx->__data_loc_comm)) {
		__u32 loc = BPF_CORE_READ(ctx, __data_loc_comm);

		bpf_probe_read_kernel_str(ev->victim_comm, sizeof(ev->victim_comm),
					  (char *)ctx + (loc & 0xffff));
	}
	ksight__submit(ctx, ev, sizeof(*ev));
	return 0;
}
