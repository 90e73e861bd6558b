/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* tcprtt probe: smoothed RTT of established connections, sampled on every
 * segment received, as a log2 histogram in microseconds per cgroup (no records). */
#ifndef KSIGHT_ABI_TCPRTT_H
#define KSIGHT_ABI_TCPRTT_H

#include "ksight/abi/hist.h"
#include "ksight/abi/net.h"

#endif
