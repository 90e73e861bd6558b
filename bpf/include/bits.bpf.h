/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* log2 histograms in BPF: recording a value (the slot arithmetic is in
 * include/ksight/abi/hist.h, shared with the tests), and finding (or
 * creating) a map value. */
#ifndef KSIGHT_BITS_BPF_H
#define KSIGHT_BITS_BPF_H

#include "ksight/abi/hist.h"

/* Adds one value to a log2 histogram (include/ksight/abi/hist.h). Meant for
 * per-CPU map values, which need no atomics. */
static __always_inline void ksight__hist_record(struct ksight_log2_hist *hist, __u64 value)
{
	__u64 slot = ksight__log2_slot(value);

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
