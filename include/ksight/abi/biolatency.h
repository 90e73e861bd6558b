/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* biolatency probe: block I/O latency from issue to completion, in
 * microseconds, as a log2 histogram per disk and operation, with the bytes
 * completed; aggregated in the kernel (no events). */
#ifndef KSIGHT_ABI_BIOLATENCY_H
#define KSIGHT_ABI_BIOLATENCY_H

#include "ksight/abi/hist.h"

/* The operations counted apart (the kernel's REQ_OP_* values for the first
 * four); everything else is "other". */
#define KSIGHT_BIO_READ 0
#define KSIGHT_BIO_WRITE 1
#define KSIGHT_BIO_FLUSH 2
#define KSIGHT_BIO_DISCARD 3
#define KSIGHT_BIO_OTHER 4

/* disk x operation pairs with a histogram of their own */
#define KSIGHT_BIO_MAX_KEYS 1024

struct ksight_bio_key {
	__u32 major;
	__u32 minor; /* of the disk (first_minor): partitions count as their disk */
	__u32 op;    /* KSIGHT_BIO_* */
	__u32 pad;
};

struct ksight_bio_value {
	struct ksight_log2_hist latency;
	__u64 bytes;
};

#endif
