#pragma once
// Kernel text addresses to function names, from /proc/kallsyms. netdrop
// names its drop locations with it on kernels that give no drop reason; the
// stack symbolizer names kernel frames and their modules with it.
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksight::profile {

// The module of symbols of the core kernel, as perf and pprof name it.
inline constexpr std::string_view kCoreKernelModule = "[kernel.kallsyms]";

struct KernelSymbol {
  std::string_view name;
  std::string_view module;  // "[kernel.kallsyms]", or "[nf_tables]" for a module
  uint64_t start = 0;
};

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
  static KernelSymbols parse(std::istream& in);

  // The function `addr` is in, or "" when no symbol precedes it.
  std::string_view function_of(uint64_t addr) const;
  // The symbol `addr` is in and its module. kallsyms gives no sizes: a symbol
  // covers up to the next one.
  std::optional<KernelSymbol> lookup(uint64_t addr) const;
  bool empty() const { return symbols_.empty(); }
  size_t size() const { return symbols_.size(); }

 private:
  struct Entry {
    uint64_t start;
    uint32_t name_at;  // offset in names_
    uint32_t module;   // index in modules_
  };
  std::vector<Entry> symbols_;
  std::string names_;                 // NUL-separated
  std::vector<std::string> modules_;  // [0] is the core kernel
};

}  // namespace ksight::profile
