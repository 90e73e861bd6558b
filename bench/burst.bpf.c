// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bench only: a generator of open records inside the kernel, for the burst
 * benchmark (bench/burst.cpp). One BPF_PROG_TEST_RUN writes `records` records
 * laid out as the open probe writes them, through the same emit path
 * (ksight__reserve / ksight__submit: drop counter, wake-up threshold), into the
 * channel user space points ksight_events at: the agent's own ring. A syscall
 * program, so a test run executes it in the caller's context, and bpf_loop,
 * so one run can write thousands of records without unrolling. */
#include "ksight.bpf.h"
#include "ksight/abi/open.h"

/* The test run's input: how many records to write. */
struct burst_args {
	__u32 records;
	__u32 pad;
};

struct burst_state {
	__u64 pid_tgid;
	char comm[KSIGHT_COMM_LEN];
	__u32 written;
	__u32 pad;
};

/* What the generator's records carry as a path, so the bench can tell them
 * from the process's real opens. */
#define BURST_PATH "/ksight/burst"

static long burst__write_one(__u32 index, void *data)
{
	struct burst_state *st = data;
	struct ksight_open_event *ev = ksight__reserve(sizeof(*ev));

	if (!ev)
		return 0; /* counted in ksight_drops as buffer_full; keep offering */
	ksight__fill_header(&ev->hdr, KSIGHT_PROBE_OPEN, sizeof(*ev), st->pid_tgid, st->comm);
	ev->ret = 3;
	ev->flags = 0;
	__builtin_memcpy(ev->path, BURST_PATH, sizeof(BURST_PATH));
	/* The perf-buffer branch of ksight__submit is pruned: user space sets
	 * ksight_use_ringbuf, and this program is only run on a ring. */
	ksight__submit(NULL, ev, sizeof(*ev));
	st->written++;
	return 0;
}

SEC("syscall")
int burst_write(struct burst_args *args)
{
	struct burst_state st = { .pid_tgid = bpf_get_current_pid_tgid() };

	bpf_get_current_comm(st.comm, sizeof(st.comm));
	bpf_loop(args->records, burst__write_one, &st, 0);
	return st.written;
}
