/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The log2 histogram, defined once for the BPF programs that fill it and the
 * C++ that exports it. Slot s counts values v with 2^s <= v < 2^(s+1) (slot 0
 * also takes 0); the last slot takes everything larger. As a Prometheus
 * histogram, slot s has the upper bound 2^(s+1) units, and the last slot is
 * the +Inf bucket. */
#ifndef KSIGHT_ABI_HIST_H
#define KSIGHT_ABI_HIST_H

#include "ksight/abi/common.h"

#define KSIGHT_LOG2_SLOTS 27 /* in microseconds: up to 2^26 us = 67 s, then +Inf */

struct ksight_log2_hist {
	__u64 slots[KSIGHT_LOG2_SLOTS];
	__u64 sum; /* of the values, in the histogram's unit */
};

#endif
