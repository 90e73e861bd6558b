#include "probes/kernel_symbols.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ksight::probes {

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
  std::string line;
  while (std::getline(in, line)) {
    // "ffffffff81000000 T _stext" or "... t name\t[module]"
    unsigned long long addr = 0;
    char type = 0;
    int name_at = 0;
    if (std::sscanf(line.c_str(), "%llx %c %n", &addr, &type, &name_at) != 2 || name_at == 0)
      continue;
    if ((type != 't' && type != 'T') || addr == 0) continue;
    std::string_view name(line.c_str() + name_at);
    name = name.substr(0, name.find_first_of(" \t"));
    syms.starts_.emplace_back(addr, static_cast<uint32_t>(syms.names_.size()));
    syms.names_.append(name);
    syms.names_.push_back('\0');
  }
  std::sort(syms.starts_.begin(), syms.starts_.end());
  syms.starts_.shrink_to_fit();
  syms.names_.shrink_to_fit();
  return syms;
}

std::string_view KernelSymbols::function_of(uint64_t addr) const {
  auto it = std::upper_bound(starts_.begin(), starts_.end(), std::make_pair(addr, UINT32_MAX));
  if (it == starts_.begin()) return {};
  return std::string_view(names_.c_str() + std::prev(it)->second);
}

}  // namespace ksight::probes
