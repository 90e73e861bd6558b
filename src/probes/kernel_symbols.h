#pragma once
// Kernel text addresses to function names, from /proc/kallsyms. netdrop
// names its drop locations with it on kernels that give no drop reason.
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ksight::probes {

class KernelSymbols {
 public:
  // Text symbols (t/T) of `path`, sorted. Empty where the file cannot be read
  // or kptr_restrict hides the addresses (all zero).
  static KernelSymbols load(const std::string& path = "/proc/kallsyms");
  // The same from a file opened earlier: the kernel decides whether
  // /proc/kallsyms shows addresses by the credentials of whoever opened it
  // (CAP_SYSLOG), so netdrop opens it at attach, before ksight run drops its
  // capabilities, and reads it when the first unnamed drop arrives.
  static KernelSymbols load_fd(int fd);
  // The function `addr` is in, or "" when no symbol precedes it.
  std::string_view function_of(uint64_t addr) const;
  bool empty() const { return starts_.empty(); }

 private:
  static KernelSymbols parse(std::istream& in);
  std::vector<std::pair<uint64_t, uint32_t>> starts_;  // address, offset in names_
  std::string names_;                                  // NUL-separated
};

}  // namespace ksight::probes
