#include "profile/stack_profile.h"

#include <cstdio>
#include <string_view>

namespace ksight::profile {

namespace {

std::string hex_offset(std::string_view base, uint64_t offset) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(offset));
  std::string out(base);
  out += buf;
  return out;
}

}  // namespace

std::string Frame::display() const {
  if (!function.empty()) return function;
  // No symbol: the module and the offset in it still say where to look
  // (and match what `addr2line -e module` takes), unlike a process address.
  if (!module.empty()) {
    std::string_view path = module;
    auto slash = path.rfind('/');
    // "[kernel.kallsyms]" and "[nf_tables]" have no slash; a path ending in
    // one has no basename worth showing.
    if (slash != std::string_view::npos && slash + 1 < path.size()) path.remove_prefix(slash + 1);
    return hex_offset(path, module_offset);
  }
  return hex_offset("[unknown]", address);
}

}  // namespace ksight::profile
