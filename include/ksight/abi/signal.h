/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* signal probe: signals generated (sent by a task, or raised by the kernel on
 * a fault). Every signal is counted in the kernel by number; a record is
 * written for the ones in the probe's mask (fatal and interesting ones). The
 * header is the sender (the current task); the target follows. */
#ifndef KSIGHT_ABI_SIGNAL_H
#define KSIGHT_ABI_SIGNAL_H

#include "ksight/abi/common.h"

#define KSIGHT_SIGNAL_MAX 65 /* signal numbers 1..64; slot 0 unused */

struct ksight_signal_event {
	struct ksight_event_header hdr;
	__u32 target_pid; /* thread group of the target */
	__u32 target_tid;
	__s32 sig;
	__s32 code;   /* si_code: SI_USER, SI_KERNEL, SEGV_MAPERR, ... */
	__s32 result; /* 0 delivered, 1 ignored, 2 already pending, 3 overflow, 4 info lost */
	__u32 group;  /* sent to the whole thread group */
	char target_comm[KSIGHT_COMM_LEN];
};

#endif
