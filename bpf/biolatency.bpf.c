// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* biolatency: block request latency from issue (handed to the driver) to
 * completion, per disk and operation, as a log2 histogram in microseconds,
 * plus the bytes completed. Completion runs in interrupt context, so the
 * filters (-p, --comm, --cgroup) apply to the task that issued the request. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "ksight/abi/biolatency.h"

#define REQ_OP_MASK 0xff

/* Issue times, by request. A request is issued once before it completes;
 * LRU, so requests that never complete (a removed disk) cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} bio_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_BIO_MAX_KEYS);
	/* Preallocated, as tracing programs need (see ksight.bpf.h); user space
	 * sizes it from the possible CPUs. */
	__type(key, struct ksight_bio_key);
	__type(value, struct ksight_bio_value);
} bio_latency SEC(".maps");

/* request::rq_disk went away in 5.17; the disk is the queue's since. */
struct request___pre517 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *request_disk(struct request *rq)
{
	struct request___pre517 *old = (void *)rq;

	if (bpf_core_field_exists(old->rq_disk))
		return BPF_CORE_READ(old, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}

static __always_inline int issued(struct request *rq)
{
	__u64 key = (__u64)rq;
	__u64 now;

	if (!ksight__current_wanted(bpf_get_current_pid_tgid()))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&bio_start, &key, &now, BPF_ANY);
	return 0;
}

static __always_inline int completed(struct request *rq, unsigned int nr_bytes)
{
	static const struct ksight_bio_value zero;
	static const struct ksight_bio_key overflow = { .op = KSIGHT_BIO_OTHER };
	struct ksight_bio_key key = {};
	struct ksight_bio_value *value;
	struct gendisk *disk;
	__u64 rq_key = (__u64)rq, *start, delta_us;
	__u32 op;

	start = bpf_map_lookup_elem(&bio_start, &rq_key);
	if (!start)
		return 0; /* issued before we attached, or filtered out */
	delta_us = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&bio_start, &rq_key);

	disk = request_disk(rq);
	key.major = BPF_CORE_READ(disk, major);
	key.minor = BPF_CORE_READ(disk, first_minor);
	op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	key.op = op <= KSIGHT_BIO_DISCARD ? op : KSIGHT_BIO_OTHER;

	value = ksight__lookup_or_init(&bio_latency, &key, &zero, &overflow);
	if (!value)
		return 0;
	ksight__hist_record(&value->latency, delta_us);
	value->bytes += nr_bytes;
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(biolatency_block_rq_issue_tp_btf, struct request *rq)
{
	return issued(rq);
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(biolatency_block_rq_complete_tp_btf, struct request *rq, int error,
	     unsigned int nr_bytes)
{
	return completed(rq, nr_bytes);
}

SEC("raw_tp/block_rq_issue")
int BPF_PROG(biolatency_block_rq_issue_raw_tp, struct request *rq)
{
	return issued(rq);
}

SEC("raw_tp/block_rq_complete")
int BPF_PROG(biolatency_block_rq_complete_raw_tp, struct request *rq, int error,
	     unsigned int nr_bytes)
{
	return completed(rq, nr_bytes);
}
