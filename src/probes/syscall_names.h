#pragma once
// Syscall numbers to names, for the architecture ksight runs on and for the
// others it supports, from libseccomp's tables (Debian's libseccomp keeps
// them current with each kernel), not numbers scattered through our code.
#include <cstdint>
#include <string>
#include <string_view>

namespace ksight::probes {

enum class SyscallArch : uint8_t { native, x86_64, arm64 };

// "getpid" for 39 on x86_64 (172 on arm64); "syscall_<n>" where the table has
// no name for the number.
std::string syscall_name(uint32_t nr, SyscallArch arch = SyscallArch::native);

// The inverse, for tests and filters; -1 when unknown.
int syscall_number(std::string_view name, SyscallArch arch = SyscallArch::native);

}  // namespace ksight::probes
