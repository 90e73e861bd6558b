/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* exec probe: one record per successful execve/execveat (sched_process_exec). */
#ifndef KSIGHT_ABI_EXEC_H
#define KSIGHT_ABI_EXEC_H

#include "ksight/abi/common.h"

#define KSIGHT_EXEC_FILENAME_LEN 256
/* argv is copied from the new process' stack, NUL-separated, up to this many
 * bytes; longer command lines are cut and flagged. */
#define KSIGHT_EXEC_ARGS_LEN 512

struct ksight_exec_event {
	struct ksight_event_header hdr;
	__u32 ppid;
	__u32 uid;
	__u32 args_len;       /* bytes used in args */
	__u8 args_truncated;  /* 1 when argv did not fit */
	__u8 pad[3];
	char filename[KSIGHT_EXEC_FILENAME_LEN];
	char args[KSIGHT_EXEC_ARGS_LEN];
};

#endif
