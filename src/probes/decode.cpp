#include "probes/decode.h"

#include <array>
#include <cstring>
#include <string>

namespace ksight::probes {

std::string_view signal_name(int sig) {
  static constexpr std::array<std::string_view, 32> kNames{
      "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
      "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
      "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
      "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};
  if (sig > 0 && sig < static_cast<int>(kNames.size())) return kNames[static_cast<size_t>(sig)];
  // Real-time signals: a bounded set of static strings, built once.
  static const auto kRt = [] {
    std::array<std::string, 65> names;
    for (int i = 0; i < 65; ++i) names[static_cast<size_t>(i)] = "SIG" + std::to_string(i);
    return names;
  }();
  if (sig >= 0 && sig < 65) return kRt[static_cast<size_t>(sig)];
  return "SIGUNKNOWN";
}

std::string_view errno_name(int err) {
  if (const char* name = strerrorname_np(err)) return name;
  static const auto kUnknown = [] {
    std::array<std::string, 4096> names;
    for (int i = 0; i < 4096; ++i) names[static_cast<size_t>(i)] = "E" + std::to_string(i);
    return names;
  }();
  if (err >= 0 && err < 4096) return kUnknown[static_cast<size_t>(err)];
  return "EUNKNOWN";
}

}  // namespace ksight::probes
