#include "probes/syscall_names.h"

#include <seccomp.h>

#include <cstdlib>
#include <memory>

namespace ksight::probes {

namespace {

uint32_t arch_token(SyscallArch arch) {
  switch (arch) {
    case SyscallArch::x86_64:
      return SCMP_ARCH_X86_64;
    case SyscallArch::arm64:
      return SCMP_ARCH_AARCH64;
    case SyscallArch::native:
      break;
  }
  return seccomp_arch_native();
}

}  // namespace

std::string syscall_name(uint32_t nr, SyscallArch arch) {
  std::unique_ptr<char, decltype(&std::free)> name(
      seccomp_syscall_resolve_num_arch(arch_token(arch), static_cast<int>(nr)), &std::free);
  if (name) return name.get();
  return "syscall_" + std::to_string(nr);
}

int syscall_number(std::string_view name, SyscallArch arch) {
  int nr = seccomp_syscall_resolve_name_arch(arch_token(arch), std::string(name).c_str());
  return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

}  // namespace ksight::probes
