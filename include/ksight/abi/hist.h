/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The log2 histogram, defined once for the BPF programs that fill it and the
 * C++ that exports it: the slots, and the arithmetic that picks one (compiled
 * into the BPF programs and, unchanged, into the unit tests that check it).
 * Slots are upper-inclusive, so that each is exactly one Prometheus bucket
 * (`le` is inclusive) and one OpenTelemetry exponential bucket at scale 0
 * (index i covers (2^i, 2^(i+1)]):
 *
 *   slot 0        v == 0                    le = 0         OTel zero_count
 *   slot 1        v == 1                    le = 1         OTel index -1
 *   slot k >= 2   2^(k-2) < v <= 2^(k-1)    le = 2^(k-1)   OTel index k-2
 *   last slot     v > 2^(KSIGHT_LOG2_SLOTS - 3)   le = +Inf
 *
 * core::log2_bounds (src/core/log2_hist.h) gives the bounds; docs/fidelity.md
 * says what OTLP makes of the last slot. */
#ifndef KSIGHT_ABI_HIST_H
#define KSIGHT_ABI_HIST_H

#include "ksight/abi/common.h"

/* In microseconds: finite slots up to 2^26 us = 67 s, then +Inf. */
#define KSIGHT_LOG2_SLOTS 29

struct ksight_log2_hist {
	__u64 slots[KSIGHT_LOG2_SLOTS];
	__u64 sum; /* of the values, in the histogram's unit */
};

/* Integer log2 (floor; 0 for 0) without loops the verifier must unroll. */
static inline __attribute__((always_inline)) __u32 ksight__log2_u32(__u32 v)
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

static inline __attribute__((always_inline)) __u32 ksight__log2_u64(__u64 v)
{
	__u32 hi = v >> 32;

	return hi ? ksight__log2_u32(hi) + 32 : ksight__log2_u32((__u32)v);
}

/* The slot of `v` before the clamp to the last slot: 0 -> 0, 1 -> 1, and
 * v >= 2 -> floor(log2(v - 1)) + 2, which puts 2^(k-2) < v <= 2^(k-1) in slot
 * k: a power of two is the top of its slot. */
static inline __attribute__((always_inline)) __u64 ksight__log2_slot(__u64 v)
{
	return v > 1 ? (__u64)ksight__log2_u64(v - 1) + 2 : v;
}

#endif
