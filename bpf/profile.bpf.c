// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* profile: a perf_event program on the software cpu-clock event, one per
 * CPU at the configured frequency, counting on-CPU samples per cgroup and
 * process, user and kernel mode apart. A sample costs one per-CPU map
 * update; the map is bounded and user space empties it at every read.
 * With profile_stacks set (ksight trace profile, /debug/pprof), each sample
 * also counts its kernel and user stacks (bpf/include/stacks.bpf.h) and
 * announces processes seen for the first time. */
#include "ksight.bpf.h"
#include "bits.bpf.h"
#include "stacks.bpf.h"
#include "ksight/abi/profile.h"

/* Fixed for the run: the daemon's default leaves stacks off, and its stack
 * maps at one entry each. */
const volatile __u8 profile_stacks = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KSIGHT_PROFILE_MAX_KEYS);
	__type(key, struct ksight_profile_key);
	__type(value, struct ksight_profile_value);
} profile_samples SEC(".maps");

SEC("perf_event")
int profile_cpu_clock_perf_event(struct bpf_perf_event_data *ctx)
{
	static const struct ksight_profile_key overflow = {};
	static const struct ksight_profile_value zero = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ksight_profile_key key = {};
	struct ksight_profile_value *value;

	if ((pid_tgid >> 32) == 0)
		return 0; /* the idle task: the CPU was not busy */
	if (!ksight__current_wanted(pid_tgid))
		return 0;
	key.cgroup_id = bpf_get_current_cgroup_id();
	key.pid = pid_tgid >> 32;
	value = ksight__lookup_or_init(&profile_samples, &key, &zero, &overflow);
	if (!value)
		return 0;
	/* The command as of this sample: a process that execs changes it. */
	bpf_get_current_comm(value->comm, sizeof(value->comm));
	/* Kernel addresses have the top bit set on x86-64 and arm64 alike. */
	if (PT_REGS_IP(&ctx->regs) >> 63)
		value->kernel += 1;
	else
		value->user += 1;
	if (profile_stacks && !stacks__paused()) {
		struct ksight_stack_key stack_key = {
			.cgroup_id = key.cgroup_id,
			.pid = key.pid,
		};
		__u32 set = stacks__active_set();

		stacks__take(ctx, set, &stack_key);
		stacks__count(set, &stack_key, 0, value->comm);
		stacks__announce(ctx, KSIGHT_PROBE_PROFILE, pid_tgid, value->comm);
	}
	return 0;
}
