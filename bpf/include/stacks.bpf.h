/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Stack counting for the profile and offcpu probes (include/ksight/abi/
 * stacks.h): two sets of (stack map, counts map). The program reads which set
 * is active from ksight_stack_set at each sample; user space flips it, waits
 * for every program that may still hold the old value (ksight_stack_barrier),
 * then drains and clears the old set while the kernel fills the new one: no
 * sample is written to a set while it is read (src/probes/stack_sets.cpp).
 * User space sizes every map here to 1 entry when stacks are off. */
#ifndef KSIGHT_STACKS_BPF_H
#define KSIGHT_STACKS_BPF_H

#include "ksight/abi/stacks.h"

#define KSIGHT_EFAULT 14
#define KSIGHT_EEXIST 17
#define KSIGHT_PF_KTHREAD 0x00200000 /* include/linux/sched.h */

#define KSIGHT__STACK_MAP(name)                                            \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                    \
		__uint(max_entries, KSIGHT_STACK_MAX_STACKS);              \
		__uint(key_size, sizeof(__u32));                           \
		__uint(value_size, KSIGHT_STACK_DEPTH * sizeof(__u64));    \
	} name SEC(".maps")

#define KSIGHT__COUNTS_MAP(name)                                           \
	struct {                                                           \
		__uint(type, BPF_MAP_TYPE_HASH);                           \
		__uint(max_entries, KSIGHT_STACK_MAX_KEYS);                \
		__type(key, struct ksight_stack_key);                      \
		__type(value, struct ksight_stack_value);                  \
	} name SEC(".maps")

KSIGHT__STACK_MAP(ksight_stacks0);
KSIGHT__STACK_MAP(ksight_stacks1);
KSIGHT__COUNTS_MAP(ksight_stack_counts0);
KSIGHT__COUNTS_MAP(ksight_stack_counts1);

/* Slot 0: the set programs write (0 or 1). Slot 1: non-zero while user space
 * has paused stack taking (the daemon between two /debug/pprof requests:
 * the maps stay empty and the samples cost one lookup more). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} ksight_stack_set SEC(".maps");

/* Never read by the programs: updating a map-in-map from user space makes the
 * kernel wait for every running BPF program to finish (synchronize_rcu() in
 * maybe_wait_bpf_programs(), kernel/bpf/syscall.c), which is how user space
 * knows, after a flip, that no program still writes the old set. */
struct ksight_stack_barrier_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ksight_stack_barrier_inner);
} ksight_stack_barrier SEC(".maps");

/* Processes already announced to user space (ksight_new_process_event). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KSIGHT_STACK_SEEN_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} ksight_seen_pids SEC(".maps");

static __always_inline __u32 stacks__active_set(void)
{
	__u32 zero = 0, *set = bpf_map_lookup_elem(&ksight_stack_set, &zero);

	return set && *set ? 1 : 0;
}

static __always_inline bool stacks__paused(void)
{
	__u32 one = 1, *paused = bpf_map_lookup_elem(&ksight_stack_set, &one);

	return paused && *paused;
}

static __always_inline bool stacks__current_is_kthread(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, flags) & KSIGHT_PF_KTHREAD;
}

/* The stack id of the current task's kernel (flags 0) or user
 * (BPF_F_USER_STACK) stack in `set`'s stack map; negative when there is none.
 * An empty stack (-EFAULT: a user-mode sample has no kernel frames) is not a
 * loss; a full map or a hash collision (-EEXIST) is. */
static __always_inline __s32 stacks__get_id(void *ctx, __u32 set, __u64 flags)
{
	long id = set ? bpf_get_stackid(ctx, &ksight_stacks1, flags)
		      : bpf_get_stackid(ctx, &ksight_stacks0, flags);

	if (id < 0 && id != -KSIGHT_EFAULT)
		ksight__count_drop(KSIGHT_DROP_STACK_LOST);
	return id;
}

/* Both stacks of the current task into `key`, in `set`. */
static __always_inline void stacks__take(void *ctx, __u32 set, struct ksight_stack_key *key)
{
	key->stack_set = set;
	key->kernel_stack_id = stacks__get_id(ctx, set, 0);
	/* A kernel thread has no user stack: nothing to walk. */
	key->user_stack_id =
		stacks__current_is_kthread() ? -1 : stacks__get_id(ctx, set, BPF_F_USER_STACK);
}

/* Adds one sample (or block of `value_ns`) to `key` in `set`'s counts. */
static __always_inline void stacks__count(__u32 set, const struct ksight_stack_key *key,
					  __u64 value_ns, const char *comm)
{
	void *counts = set ? (void *)&ksight_stack_counts1 : (void *)&ksight_stack_counts0;
	struct ksight_stack_value *value, init = {};
	long err;

	value = bpf_map_lookup_elem(counts, key);
	if (!value) {
		init.count = 1;
		init.value_ns = value_ns;
		__builtin_memcpy(init.comm, comm, KSIGHT_COMM_LEN);
		err = bpf_map_update_elem(counts, key, &init, BPF_NOEXIST);
		if (err == 0)
			return;
		/* -EEXIST: another CPU created it first; add to theirs. */
		value = err == -KSIGHT_EEXIST ? bpf_map_lookup_elem(counts, key) : NULL;
		if (!value) {
			ksight__count_drop(KSIGHT_DROP_MAP_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&value->count, 1);
	if (value_ns)
		__sync_fetch_and_add(&value->value_ns, value_ns);
}

/* Tells user space, once per process, that `pid_tgid`'s process was sampled,
 * so it reads /proc/PID/maps while the process is alive. When the record
 * cannot be written the process is forgotten, and the next sample retries. */
static __always_inline void stacks__announce(void *ctx, __u16 probe_id, __u64 pid_tgid,
					     const char *comm)
{
	struct ksight_new_process_event *e;
	__u32 pid = pid_tgid >> 32;
	__u8 one = 1;

	if (bpf_map_update_elem(&ksight_seen_pids, &pid, &one, BPF_NOEXIST))
		return; /* seen already */
	e = ksight__reserve_internal(sizeof(*e));
	if (!e) {
		bpf_map_delete_elem(&ksight_seen_pids, &pid);
		return;
	}
	ksight__fill_header(&e->hdr, probe_id, sizeof(*e), pid_tgid, comm);
	ksight__submit(ctx, e, sizeof(*e));
}

#endif
