/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* oomkill probe: one record per OOM kill (oom:mark_victim). The header is the
 * task that ran into the limit (its cgroup is the one that was out of
 * memory); the victim follows. */
#ifndef KSIGHT_ABI_OOMKILL_H
#define KSIGHT_ABI_OOMKILL_H

#include "ksight/abi/common.h"

/* cgroups with a count of their own; the rest count under id 0. */
#define KSIGHT_OOMKILL_MAX_CGROUPS 1024

struct ksight_oomkill_event {
	struct ksight_event_header hdr;
	__u32 victim_pid;
	__u32 victim_uid;
	char victim_comm[KSIGHT_COMM_LEN];
	/* As the tracepoint gives them (kernels >= 6.0), in KiB. Before 6.0,
	 * read from the victim when it is the current task, else 0. */
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u64 pgtables_kb;
	__s32 oom_score_adj;
	__u32 pad;
};

#endif
