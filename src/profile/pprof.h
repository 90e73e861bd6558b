#pragma once
// Profiles in pprof's format (google/pprof proto/profile.proto), what
// `go tool pprof`, Pyroscope, Parca and Grafana read.
//
// Samples carry two values: [samples count, cpu nanoseconds] for a cpu profile
// (period cpu/nanoseconds = Profile.period_ns), [samples count, offcpu
// nanoseconds] for an offcpu one (period 1). One Location per (module,
// address), each with one Line naming its Function, one Function per (name,
// module), one Mapping per module with its build id; kernel frames belong to
// "[kernel.kallsyms]" (or their kernel module's "[name]"). Labels: pid
// (number), comm and, when known, workload.
#include <string>

#include "profile/stack_profile.h"

namespace ksight::profile {

// The gzipped profile: the file `go tool pprof` reads and what
// /debug/pprof/profile serves.
std::string pprof_gzip(const Profile& profile);

// The same message uncompressed, for debugging (`protoc --decode
// perftools.profiles.Profile profile.proto < file`).
std::string pprof_bytes(const Profile& profile);

}  // namespace ksight::profile
