/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The header that starts every record ksight's BPF programs write to the
 * event channel, and the constants both sides agree on. Shared verbatim by the
 * BPF programs (bpf/) and user space (src/): fixed-width types, explicit
 * padding, no bool or enum members, and static_asserts in
 * src/probes/abi_check.cpp, so the two sides cannot drift apart. */
#ifndef KSIGHT_ABI_COMMON_H
#define KSIGHT_ABI_COMMON_H

#ifndef __BPF__
#include <linux/types.h>
#endif

/* Bumped whenever a shared struct changes layout. */
#define KSIGHT_ABI_VERSION 3

#define KSIGHT_COMM_LEN 16
/* Largest record any probe emits; the perf-buffer path stages records in a
 * per-CPU scratch buffer of this size. */
#define KSIGHT_MAX_EVENT_SIZE 1024

/* Probe ids, carried in every record so the dispatcher can route it. */
#define KSIGHT_PROBE_EXEC 1
#define KSIGHT_PROBE_EXIT 2
#define KSIGHT_PROBE_OPEN 3
#define KSIGHT_PROBE_RUNQLAT 4
#define KSIGHT_PROBE_BIOLATENCY 5
#define KSIGHT_PROBE_SYSCALLS 6
#define KSIGHT_PROBE_OOMKILL 7
#define KSIGHT_PROBE_SIGNAL 8
#define KSIGHT_PROBE_PROFILE 9
#define KSIGHT_PROBE_TCP 10
#define KSIGHT_PROBE_TCPRETRANS 11
#define KSIGHT_PROBE_TCPRESET 12
#define KSIGHT_PROBE_TCPRTT 13
#define KSIGHT_PROBE_NETDROP 14
#define KSIGHT_PROBE_CGROUPNET 15
#define KSIGHT_PROBE_TCPCONNLAT 16
#define KSIGHT_PROBE_OFFCPU 17

/* Indexes of the per-CPU drop counter array each probe object owns. */
#define KSIGHT_DROP_BUFFER_FULL 0 /* ring buffer reserve or perf output failed */
#define KSIGHT_DROP_RATE_LIMIT 1  /* in-kernel token bucket said no */
/* Stack probes (profile, offcpu): bpf_get_stackid failed (stack map full or
 * a hash collision), so the sample was counted without that stack. */
#define KSIGHT_DROP_STACK_LOST 2
/* Stack probes: the per-stack counts map was full, so the sample is lost. */
#define KSIGHT_DROP_MAP_FULL 3
/* Adaptive sampling (struct ksight_emit_control): not kept this time. */
#define KSIGHT_DROP_SAMPLED 4
/* The overhead governor asked for counts only: no record leaves the kernel. */
#define KSIGHT_DROP_SHED 5
/* Not drops: every record a probe set out to emit, after its filters and
 * before sampling, the rate limit and the channel (the ledger's first hop);
 * and how many of those were errors (the sampling's error signal). */
#define KSIGHT_COUNT_GENERATED 6
#define KSIGHT_COUNT_ERRORS 7
#define KSIGHT_LEDGER_SLOTS 8

/* How a probe's records leave the kernel, set by user space at any time (the
 * adaptive sampler and the overhead governor, src/runtime/fidelity.cpp), one
 * entry in each object's ksight_emit_control array. Zeroed, everything is
 * kept. A record is kept with probability 1/period: when a random u32 is
 * below keep_below (2^32 / period, so the kernel does no division). */
struct ksight_emit_control {
	__u32 period;      /* 0 or 1: every record */
	__u32 keep_below;  /* 2^32 / period, clamped to u32 */
	__u8 keep_errors;  /* errors are kept whatever the period */
	__u8 counts_only;  /* no record at all: only the in-kernel counts */
	__u8 pad[6];
};

struct ksight_event_header {
	__u64 ktime_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 pid;       /* thread group id, what user space calls a pid */
	__u32 tid;
	__u16 probe_id;    /* KSIGHT_PROBE_* */
	__u16 abi_version; /* KSIGHT_ABI_VERSION */
	__u16 size;        /* bytes of the whole record (<= KSIGHT_MAX_EVENT_SIZE) */
	/* The record was kept with probability 1/sample_period (adaptive
	 * sampling): it stands for sample_period records. 1: not sampled. */
	__u16 sample_period;
	char comm[KSIGHT_COMM_LEN];
};

#endif
