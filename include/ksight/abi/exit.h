/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* exit probe: one record per process (thread group leader) exit
 * (sched_process_exit). */
#ifndef KSIGHT_ABI_EXIT_H
#define KSIGHT_ABI_EXIT_H

#include "ksight/abi/common.h"

struct ksight_exit_event {
	struct ksight_event_header hdr;
	__u32 ppid;
	/* task->exit_code as wait(2) reports it: exit status in bits 8-15, the
	 * terminating signal in bits 0-6, core dump flag in bit 7. */
	__u32 exit_code;
	__u64 lifetime_ns; /* exit time minus task->start_time */
};

#endif
