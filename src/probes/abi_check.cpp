// Compile-time checks that the C++ view of the shared structs matches what the
// BPF side writes (same header, fixed-width fields, explicit padding). A
// change in include/ksight/abi/ that moves a field breaks the build here.
#include <cstddef>

#include "ksight/abi/common.h"
#include "ksight/abi/exec.h"
#include "ksight/abi/exit.h"
#include "ksight/abi/open.h"

static_assert(sizeof(ksight_event_header) == 48);
static_assert(offsetof(ksight_event_header, probe_id) == 24);
static_assert(offsetof(ksight_event_header, comm) == 32);
static_assert(sizeof(ksight_exec_event) ==
              48 + 16 + KSIGHT_EXEC_FILENAME_LEN + KSIGHT_EXEC_ARGS_LEN);
static_assert(offsetof(ksight_exec_event, filename) == 64);
static_assert(sizeof(ksight_exit_event) == 64);
static_assert(offsetof(ksight_exit_event, lifetime_ns) == 56);
static_assert(sizeof(ksight_exec_event) <= KSIGHT_MAX_EVENT_SIZE);
static_assert(sizeof(ksight_open_event) == 48 + 8 + KSIGHT_OPEN_PATH_LEN);
