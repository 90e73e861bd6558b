#include "probes/decode.h"

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace ksight::probes {

namespace {

// "<prefix><n>" for the numbers a table has no name for: built once per
// table, so the views handed out stay valid and decoding allocates nothing.
class NumberedNames {
 public:
  NumberedNames(const char* prefix, size_t count, std::string_view unknown) : unknown_(unknown) {
    // Appended, not `prefix + std::to_string(i)`: that operator+ inserts at the
    // front of the temporary, where g++ 12 at -O3 sees a memcpy that "may
    // overlap" (-Werror=restrict, GCC bug 105329, a false positive).
    names_.reserve(count);
    for (size_t i = 0; i < count; ++i) {
      std::string name(prefix);
      name += std::to_string(i);
      names_.push_back(std::move(name));
    }
  }
  std::string_view operator()(int n) const {
    return n >= 0 && static_cast<size_t>(n) < names_.size() ? names_[static_cast<size_t>(n)]
                                                            : unknown_;
  }

 private:
  std::vector<std::string> names_;
  std::string_view unknown_;
};

}  // namespace

std::string_view signal_name(int sig) {
  static constexpr std::array<std::string_view, 32> kNames{
      "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
      "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
      "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
      "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
  if (sig > 0 && sig < static_cast<int>(kNames.size())) return kNames[static_cast<size_t>(sig)];
  static const NumberedNames kRealtime("SIG", 65, "SIGUNKNOWN");
  return kRealtime(sig);
}

std::string_view errno_name(int err) {
  if (const char* name = strerrorname_np(err)) return name;
  static const NumberedNames kUnnamed("E", 4096, "EUNKNOWN");
  return kUnnamed(err);
}

}  // namespace ksight::probes
