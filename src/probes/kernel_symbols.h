#pragma once
// Kernel text addresses to function names, from /proc/kallsyms. netdrop
// names its drop locations with it on kernels that give no drop reason.
#include <cstdint>
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
  // The function `addr` is in, or "" when no symbol precedes it.
  std::string_view function_of(uint64_t addr) const;
  bool empty() const { return starts_.empty(); }

 private:
  std::vector<std::pair<uint64_t, uint32_t>> starts_;  // address, offset in names_
  std::string names_;                                  // NUL-separated
};

}  // namespace ksight::probes
