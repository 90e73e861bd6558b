#include "runtime/self_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace ksight::runtime {

namespace {

// utime and stime (fields 14 and 15) and num_threads (20) of a stat file;
// the command name in field 2 may hold spaces, so parse after its ')'.
bool parse_stat(const std::string& path, double& cpu, uint64_t& threads) {
  std::ifstream f(path);
  std::string line;
  if (!std::getline(f, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // rest starts at field 3 (state).
  for (int i = 3; i <= 20 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
    if (i == 20) threads = std::stoull(field);
  }
  cpu = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return true;
}

}  // namespace

SelfStats read_self_stats() {
  SelfStats s;
  parse_stat("/proc/self/stat", s.cpu_seconds, s.threads);
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (statm >> size >> resident)
    s.rss_bytes = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return s;
}

double thread_cpu_seconds(int tid) {
  double cpu = 0;
  uint64_t threads = 0;
  parse_stat("/proc/self/task/" + std::to_string(tid) + "/stat", cpu, threads);
  return cpu;
}

}  // namespace ksight::runtime
