/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* runqlat probe: run-queue latency (wake-up to on-CPU) in microseconds, as a
 * log2 histogram per cgroup, aggregated in the kernel (no events). */
#ifndef KSIGHT_ABI_RUNQLAT_H
#define KSIGHT_ABI_RUNQLAT_H

#include "ksight/abi/hist.h"

/* cgroups with a histogram of their own; the rest go to cgroup id 0. */
#define KSIGHT_RUNQLAT_MAX_CGROUPS 4096

#endif
