/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* open probe: one record per openat/openat2 call, successful or not. */
#ifndef KSIGHT_ABI_OPEN_H
#define KSIGHT_ABI_OPEN_H

#include "ksight/abi/common.h"

#define KSIGHT_OPEN_PATH_LEN 256
/* Slots of the in-kernel count of opens by result: 0 is success, e is errno
 * e; the last slot takes every larger errno. */
#define KSIGHT_OPEN_RESULTS 512

struct ksight_open_event {
	struct ksight_event_header hdr;
	__s32 ret;   /* the new fd, or -errno */
	__u32 flags; /* O_* flags as passed */
	char path[KSIGHT_OPEN_PATH_LEN];
};

#endif
