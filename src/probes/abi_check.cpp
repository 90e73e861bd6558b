// Compile-time checks that the C++ view of the shared structs matches what the
// BPF side writes (same header, fixed-width fields, explicit padding). A
// change in include/ksight/abi/ that moves a field breaks the build here.
#include <cstddef>

#include "ksight/abi/cgroupnet.h"
#include "ksight/abi/common.h"
#include "ksight/abi/exec.h"
#include "ksight/abi/exit.h"
#include "ksight/abi/netdrop.h"
#include "ksight/abi/offcpu.h"
#include "ksight/abi/open.h"
#include "ksight/abi/tcp.h"
#include "ksight/abi/tcpconnlat.h"
#include "ksight/abi/tcpreset.h"
#include "ksight/abi/tcpretrans.h"
#include "ksight/abi/tcprtt.h"

static_assert(sizeof(ksight_event_header) == 48);
static_assert(offsetof(ksight_event_header, probe_id) == 24);
static_assert(offsetof(ksight_event_header, size) == 28);
static_assert(offsetof(ksight_event_header, sample_period) == 30);
static_assert(offsetof(ksight_event_header, comm) == 32);
static_assert(sizeof(ksight_exec_event) ==
              48 + 16 + KSIGHT_EXEC_FILENAME_LEN + KSIGHT_EXEC_ARGS_LEN);
static_assert(offsetof(ksight_exec_event, filename) == 64);
static_assert(sizeof(ksight_exit_event) == 64);
static_assert(offsetof(ksight_exit_event, lifetime_ns) == 56);
static_assert(sizeof(ksight_exec_event) <= KSIGHT_MAX_EVENT_SIZE);
static_assert(sizeof(ksight_open_event) == 48 + 8 + KSIGHT_OPEN_PATH_LEN);

// Network probes.
static_assert(sizeof(ksight_tuple) == 40);
static_assert(offsetof(ksight_tuple, sport) == 32);
static_assert(offsetof(ksight_tuple, family) == 36);
static_assert(sizeof(ksight_tcp_state_key) == 16);
static_assert(sizeof(ksight_tcp_event) == 48 + 40 + 24 + 8);
static_assert(offsetof(ksight_tcp_event, duration_ns) == 88);
static_assert(offsetof(ksight_tcp_event, kind) == 116);
static_assert(sizeof(ksight_tcp_stats) == 5 * 8 + sizeof(ksight_log2_hist));
static_assert(sizeof(ksight_tcpretrans_event) == 48 + 40 + 8);
static_assert(sizeof(ksight_tcpreset_event) == 48 + 40 + 8);
static_assert(offsetof(ksight_tcpreset_event, kind) == 92);
static_assert(sizeof(ksight_netdrop_event) == 48 + 16);
static_assert(offsetof(ksight_netdrop_event, reason) == 56);
static_assert(sizeof(ksight_cgroupnet_stats) == 32);
static_assert(sizeof(ksight_tcpconnlat_event) == 48 + 40 + 8);

// Stack probes (profile, offcpu).
static_assert(sizeof(ksight_stack_key) == 24);
static_assert(offsetof(ksight_stack_key, kernel_stack_id) == 12);
static_assert(offsetof(ksight_stack_key, stack_set) == 20);
static_assert(sizeof(ksight_stack_value) == 16 + KSIGHT_COMM_LEN);
static_assert(sizeof(ksight_new_process_event) == 48);
static_assert(sizeof(ksight_offcpu_start) == 32 + KSIGHT_COMM_LEN);
static_assert(offsetof(ksight_offcpu_start, stack_set) == 28);
static_assert(sizeof(ksight_offcpu_total) == 16);
