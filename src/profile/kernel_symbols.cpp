#include "profile/kernel_symbols.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace ksight::profile {

KernelSymbols KernelSymbols::load(const std::string& path) {
  std::ifstream in(path);
  return parse(in);
}

KernelSymbols KernelSymbols::load_fd(int fd) {
  std::string text;
  if (fd >= 0 && ::lseek(fd, 0, SEEK_SET) == 0) {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  }
  std::istringstream in(std::move(text));
  return parse(in);
}

KernelSymbols KernelSymbols::parse(std::istream& in) {
  KernelSymbols syms;
  syms.modules_.emplace_back(kCoreKernelModule);
  std::unordered_map<std::string, uint32_t> module_index;
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "ffffffffc0a01000 t name\t[module]"
    unsigned long long addr = 0;
    char type = 0;
    int name_at = 0;
    if (std::sscanf(line.c_str(), "%llx %c %n", &addr, &type, &name_at) != 2 || name_at == 0)
      continue;
    if ((type != 't' && type != 'T') || addr == 0) continue;
    std::string_view rest(line.c_str() + name_at);
    size_t name_end = rest.find_first_of(" \t");
    std::string_view name = rest.substr(0, name_end);
    uint32_t module = 0;
    if (name_end != std::string_view::npos) {
      std::string_view tail = rest.substr(name_end);
      size_t open = tail.find('[');
      size_t close = tail.find(']', open);
      if (open != std::string_view::npos && close != std::string_view::npos) {
        std::string module_name(tail.substr(open, close - open + 1));
        auto [it, added] =
            module_index.try_emplace(module_name, static_cast<uint32_t>(syms.modules_.size()));
        if (added) syms.modules_.push_back(std::move(module_name));
        module = it->second;
      }
    }
    syms.symbols_.push_back({addr, static_cast<uint32_t>(syms.names_.size()), module});
    syms.names_.append(name);
    syms.names_.push_back('\0');
  }
  std::stable_sort(syms.symbols_.begin(), syms.symbols_.end(),
                   [](const Entry& a, const Entry& b) { return a.start < b.start; });
  syms.symbols_.shrink_to_fit();
  syms.names_.shrink_to_fit();
  return syms;
}

std::optional<KernelSymbol> KernelSymbols::lookup(uint64_t addr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.start; });
  if (it == symbols_.begin()) return std::nullopt;
  const Entry& e = *std::prev(it);
  return KernelSymbol{std::string_view(names_.c_str() + e.name_at), modules_[e.module], e.start};
}

std::string_view KernelSymbols::function_of(uint64_t addr) const {
  auto sym = lookup(addr);
  return sym ? sym->name : std::string_view{};
}

}  // namespace ksight::profile
