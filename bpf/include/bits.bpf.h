/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Integer log2 for histogram slots, without loops the verifier must unroll. */
#ifndef KSIGHT_BITS_BPF_H
#define KSIGHT_BITS_BPF_H

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

#endif
