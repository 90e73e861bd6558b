/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log2 histograms in BPF: integer log2 without loops the verifier must
 * unroll, recording a value, and finding (or creating) a map value. */
#ifndef KSIGHT_BITS_BPF_H
#define KSIGHT_BITS_BPF_H

#include "ksight/abi/hist.h"

static __always_inline __u32 ksight__log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 ksight__log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? ksight__log2_u32(hi) + 32 : ksight__log2_u32((__u32)v);
}

/* Adds one value to a log2 histogram (include/ksight/abi/hist.h). Meant for
 * per-CPU map values, which need no atomics. */
static __always_inline void ksight__hist_record(struct ksight_log2_hist *hist, __u64 value)
{
	__u64 slot = ksight__log2_u64(value);

	/* The clamp is done in the register that then indexes: with a C `if`,
	 * clang compares one copy of the slot and indexes with another, and
	 * the verifiers of 5.10 and 6.1 lose the bound between the two ("R2
	 * unbounded memory access"). */
	asm volatile("if %[slot] <= %[last] goto +1\n\t"
		     "%[slot] = %[last]"
		     : [slot] "+r"(slot)
		     : [last] "i"(KSIGHT_LOG2_SLOTS - 1));
	hist->slots[slot] += 1;
	hist->sum += value;
}

/* The value of `key` in a hash map, created zeroed if absent; when the map is
 * full, the value of `fallback` (which user space created) instead. */
static __always_inline void *ksight__lookup_or_init(void *map, const void *key, const void *zero,
						   const void *fallback)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	value = bpf_map_lookup_elem(map, key);
	if (value)
		return value;
	return bpf_map_lookup_elem(map, fallback);
}

#endif
