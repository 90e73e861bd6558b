/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What every ksight probe object shares: the event channel, the drop counters,
 * the in-kernel filters and the emit path. Included once per probe object;
 * user space points each object's ksight_events map at one channel it created
 * (bpf_map__reuse_fd), so all probes feed one reader. */
#ifndef KSIGHT_BPF_H
#define KSIGHT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "ksight/abi/common.h"

/* Maps of tracing programs are preallocated (no BPF_F_NO_PREALLOC): from a
 * tracepoint or kprobe, run-time allocation is refused on PREEMPT_RT kernels
 * and, on 5.7 to 6.0, loads with a kernel WARNING (a panic under
 * panic_on_warn), since commit 94dacdbd5d2d "bpf: Tighten the requirements
 * for preallocated hash maps". Per-CPU hashes then cost max_entries x value x
 * possible CPUs, so user space lowers max_entries on large machines
 * (src/probes/loaded_object.cpp, docs/probes.md). */

/* Fixed for the life of the object: user space sets them before load, so the
 * verifier sees constants and prunes the branch not taken (a perf-buffer
 * kernel never sees a ring buffer helper call). */
const volatile __u8 ksight_use_ringbuf = 1;
/* Once the ring holds this many bytes, the producer wakes the reader at once;
 * below it a record wakes the reader only when the ring was empty before it
 * (see ksight__submit), and the reader, once awake, drains on its timer. A
 * wake-up per record costs the producer ~4x. */
const volatile __u64 ksight_wakeup_bytes = 1 << 20;
const volatile __u32 ksight_filter_tgid = 0;
const volatile __u8 ksight_filter_comm_set = 0;
const volatile char ksight_filter_comm[KSIGHT_COMM_LEN] = {};
/* cgroup v2 id to trace (ksight trace --cgroup, and -- CMD, which runs the
 * command in a cgroup of its own so its descendants are followed for free). */
const volatile __u64 ksight_filter_cgroup = 0;
/* A set of cgroup ids to trace, in ksight_cgroup_filter (ksight trace --pod,
 * --namespace, --container, --unit): user space keeps it current as the
 * workload's containers come and go, and shares one map with every object. */
const volatile __u8 ksight_filter_cgroup_set = 0;
/* Only failures: non-zero exits, failed opens (ksight trace --failed). */
const volatile __u8 ksight_filter_failed = 0;
/* Token bucket of discrete events, per CPU: each record costs
 * ksight_rate_cost_ns of credit, credit accrues with time up to
 * ksight_rate_burst_ns. User space derives both from events/s and the CPU
 * count; 0 turns the limit off. Per CPU, so no atomics and no lock. */
const volatile __u64 ksight_rate_cost_ns = 0;
const volatile __u64 ksight_rate_burst_ns = 0;

/* Replaced by user space with the shared channel: a BPF_MAP_TYPE_RINGBUF, or a
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY where the kernel has no ring buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ksight_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	/* Resized to 1 by user space when no set filter is in use. */
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} ksight_cgroup_filter SEC(".maps");

/* True when cgroup `id` passes the cgroup filters (--cgroup, or a set). */
static __always_inline bool ksight__cgroup_wanted(__u64 id)
{
	if (ksight_filter_cgroup && id != ksight_filter_cgroup)
		return false;
	if (ksight_filter_cgroup_set && !bpf_map_lookup_elem(&ksight_cgroup_filter, &id))
		return false;
	return true;
}

struct ksight_scratch {
	__u8 data[KSIGHT_MAX_EVENT_SIZE];
};

/* Staging area for the perf-buffer path, which copies a finished record. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ksight_scratch);
} ksight_scratch_map SEC(".maps");

/* The ledger's kernel hops: records this probe could not emit, by
 * KSIGHT_DROP_* reason, and the records it set out to emit
 * (KSIGHT_COUNT_GENERATED, of which KSIGHT_COUNT_ERRORS were errors). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KSIGHT_LEDGER_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} ksight_drops SEC(".maps");

/* Sampling and shedding, written by user space while the probe runs (a
 * plain array: one entry every CPU reads; a torn read between two u32s costs
 * one record at the old period, nothing more). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ksight_emit_control);
} ksight_emit_control SEC(".maps");

static __always_inline void ksight__count_drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&ksight_drops, &reason);

	if (count)
		*count += 1; /* per-CPU slot: no atomic needed */
}

struct ksight_bucket {
	__u64 credit_ns;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ksight_bucket);
} ksight_rate_bucket SEC(".maps");

/* True when this CPU's bucket holds a token for one more record. */
static __always_inline bool ksight__take_token(void)
{
	struct ksight_bucket *b;
	__u32 zero = 0;
	__u64 now;

	if (!ksight_rate_cost_ns)
		return true;
	b = bpf_map_lookup_elem(&ksight_rate_bucket, &zero);
	if (!b)
		return true;
	now = bpf_ktime_get_ns();
	if (b->last_ns == 0)
		b->credit_ns = ksight_rate_burst_ns; /* start full */
	else
		b->credit_ns += now - b->last_ns;
	b->last_ns = now;
	if (b->credit_ns > ksight_rate_burst_ns)
		b->credit_ns = ksight_rate_burst_ns;
	if (b->credit_ns < ksight_rate_cost_ns)
		return false;
	b->credit_ns -= ksight_rate_cost_ns;
	return true;
}

/* True when `comm` is the command name the --comm filter asks for. */
static __always_inline bool ksight__comm_matches(const char *comm)
{
	for (int i = 0; i < KSIGHT_COMM_LEN; i++) {
		if (comm[i] != ksight_filter_comm[i])
			return false;
		if (comm[i] == '\0')
			break;
	}
	return true;
}

/* True when the current task passes the filters user space set (ksight trace
 * -p / --comm / --cgroup), so a filtered-out event costs nothing past this. */
static __always_inline bool ksight__wanted(__u32 tgid, const char *comm)
{
	if (ksight_filter_tgid && tgid != ksight_filter_tgid)
		return false;
	if ((ksight_filter_cgroup || ksight_filter_cgroup_set) &&
	    !ksight__cgroup_wanted(bpf_get_current_cgroup_id()))
		return false;
	if (ksight_filter_comm_set && !ksight__comm_matches(comm))
		return false;
	return true;
}

/* ksight__wanted for the current task, reading its comm only when a --comm
 * filter needs it: for hot hooks that run on every syscall or sample. */
static __always_inline bool ksight__current_wanted(__u64 pid_tgid)
{
	char comm[KSIGHT_COMM_LEN];

	if (ksight_filter_tgid && (pid_tgid >> 32) != ksight_filter_tgid)
		return false;
	if ((ksight_filter_cgroup || ksight_filter_cgroup_set) &&
	    !ksight__cgroup_wanted(bpf_get_current_cgroup_id()))
		return false;
	if (ksight_filter_comm_set) {
		bpf_get_current_comm(comm, sizeof(comm));
		if (!ksight__comm_matches(comm))
			return false;
	}
	return true;
}

/* A record that was never reserved, lost for `reason` before the channel
 * (e.g. a full in-flight map): generated and lost, so the ledger adds up. */
static __always_inline void ksight__count_lost(__u32 reason)
{
	ksight__count_drop(KSIGHT_COUNT_GENERATED);
	ksight__count_drop(reason);
}

/* Reserves room for a record of `size` bytes that `is_error` says is an error
 * (a failed open, a non-zero exit, a reset...) or not. NULL, with the hop that
 * took it counted, when the governor wants counts only, when sampling leaves
 * it out, when the rate limit says no, or when the channel is full. The
 * record's header gets the period it was kept with. */
static __always_inline void *ksight__reserve_record(__u32 size, bool is_error)
{
	struct ksight_emit_control *ctl;
	__u16 period = 1;
	__u32 zero = 0;
	void *rec;

	ksight__count_drop(KSIGHT_COUNT_GENERATED);
	if (is_error)
		ksight__count_drop(KSIGHT_COUNT_ERRORS);
	ctl = bpf_map_lookup_elem(&ksight_emit_control, &zero);
	if (ctl) {
		if (ctl->counts_only) {
			ksight__count_drop(KSIGHT_DROP_SHED);
			return NULL;
		}
		if (ctl->period > 1 && !(is_error && ctl->keep_errors)) {
			if (bpf_get_prandom_u32() >= ctl->keep_below) {
				ksight__count_drop(KSIGHT_DROP_SAMPLED);
				return NULL;
			}
			period = ctl->period > 0xFFFF ? 0xFFFF : (__u16)ctl->period;
		}
	}
	if (!ksight__take_token()) {
		ksight__count_drop(KSIGHT_DROP_RATE_LIMIT);
		return NULL;
	}
	if (ksight_use_ringbuf) {
		rec = bpf_ringbuf_reserve(&ksight_events, size, 0);
		if (!rec) {
			ksight__count_drop(KSIGHT_DROP_BUFFER_FULL);
			return NULL;
		}
	} else {
		rec = bpf_map_lookup_elem(&ksight_scratch_map, &zero);
		if (!rec)
			return NULL;
	}
	((struct ksight_event_header *)rec)->sample_period = period;
	return rec;
}

/* A record that is never an error (an exec, a state change). */
static __always_inline void *ksight__reserve(__u32 size)
{
	return ksight__reserve_record(size, false);
}

/* A record for the agent itself (a stack probe's notice of a new process):
 * never sampled or shed, and not in the ledger, which counts events. */
static __always_inline void *ksight__reserve_internal(__u32 size)
{
	__u32 zero = 0;
	void *rec;

	if (ksight_use_ringbuf) {
		rec = bpf_ringbuf_reserve(&ksight_events, size, 0);
		if (!rec)
			ksight__count_drop(KSIGHT_DROP_BUFFER_FULL);
	} else {
		rec = bpf_map_lookup_elem(&ksight_scratch_map, &zero);
	}
	if (rec)
		((struct ksight_event_header *)rec)->sample_period = 1;
	return rec;
}

/* Below the fill threshold the flags are 0, the kernel's adaptive
 * notification: bpf_ringbuf_commit() wakes the reader only when the consumer
 * position equals this record's, i.e. the reader had read everything before
 * it. So the first record into an empty ring wakes a reader asleep in epoll
 * (a lone event is seen at once), and the rest of a storm, written while
 * earlier records wait, costs no wake-up. Checking "empty" here instead, with
 * bpf_ringbuf_query(BPF_RB_AVAIL_DATA), would race: after our reserve the
 * ring is never empty, and two CPUs reserving together would each see the
 * other's record and neither wake the reader. */
static __always_inline void ksight__submit(void *ctx, void *rec, __u32 size)
{
	if (ksight_use_ringbuf) {
		__u64 queued = bpf_ringbuf_query(&ksight_events, BPF_RB_AVAIL_DATA);

		bpf_ringbuf_submit(rec, queued >= ksight_wakeup_bytes ? BPF_RB_FORCE_WAKEUP : 0);
		return;
	}
	if (bpf_perf_event_output(ctx, &ksight_events, BPF_F_CURRENT_CPU, rec, size))
		ksight__count_drop(KSIGHT_DROP_BUFFER_FULL);
}

static __always_inline void ksight__fill_header(struct ksight_event_header *hdr, __u16 probe_id,
						__u32 size, __u64 pid_tgid, const char *comm)
{
	hdr->ktime_ns = bpf_ktime_get_ns();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->pid = pid_tgid >> 32;
	hdr->tid = (__u32)pid_tgid;
	hdr->probe_id = probe_id;
	hdr->abi_version = KSIGHT_ABI_VERSION;
	hdr->size = size;
	__builtin_memcpy(hdr->comm, comm, KSIGHT_COMM_LEN);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#endif
