// Issue 14: least privilege after attach. A real daemon, its capability sets
// read back from /proc/<pid>/status (and every thread's), the same sets in
// ksight_capabilities, and metrics that still move once the capabilities are
// gone.
#include <sys/utsname.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "harness.h"
#include "runtime/privileges.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using runtime::CapabilitySets;
using runtime::CapMask;

constexpr CapMask kDacReadSearch = CapMask{1} << 2;
constexpr CapMask kBpf = CapMask{1} << 39;

// What `auto` must keep here, worked out independently of ksight's own probe:
// CAP_DAC_READ_SEARCH, and CAP_BPF where map reads need it (kernels before
// 5.19 with unprivileged BPF disabled).
CapMask expected_auto_keep() {
  CapMask keep = kDacReadSearch;
  int disabled = 0;
  std::istringstream(read_file("/proc/sys/kernel/unprivileged_bpf_disabled")) >> disabled;
  utsname u{};
  ::uname(&u);
  int major = 0, minor = 0;
  char dot = 0;
  std::istringstream(u.release) >> major >> dot >> minor;
  if (disabled && (major < 5 || (major == 5 && minor < 19))) keep |= kBpf;
  return keep;
}

// Every thread of `pid` holds exactly `keep` (inheritable and ambient empty).
void expect_threads_hold(pid_t pid, CapMask keep) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  int threads = 0;
  for (const auto& e : std::filesystem::directory_iterator(task)) {
    auto s = runtime::read_capabilities(e.path().string() + "/status");
    if (!s) continue;
    ++threads;
    EXPECT_EQ(s->effective, keep) << e.path() << ": " << runtime::cap_list(s->effective);
    EXPECT_EQ(s->permitted, keep) << e.path() << ": " << runtime::cap_list(s->permitted);
    EXPECT_EQ(s->bounding, keep) << e.path() << ": " << runtime::cap_list(s->bounding);
    EXPECT_EQ(s->inheritable, 0u) << e.path();
    EXPECT_EQ(s->ambient, 0u) << e.path();
  }
  EXPECT_GE(threads, 3);  // main, reader, dispatcher, HTTP workers
}

// The capability sets ksight_capabilities reports.
CapabilitySets from_metric(const std::string& exposition) {
  CapabilitySets s;
  std::istringstream in(exposition);
  std::string line;
  const std::string prefix = "ksight_capabilities{set=\"";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    auto set_end = line.find('"', prefix.size());
    std::string set = line.substr(prefix.size(), set_end - prefix.size());
    auto cap_at = line.find("capability=\"") + 12;
    std::string cap = line.substr(cap_at, line.find('"', cap_at) - cap_at);
    if (line.substr(line.rfind(' ') + 1) != "1") continue;
    auto k = runtime::parse_keep_capabilities({cap});
    if (!k) {
      ADD_FAILURE() << "unknown capability in " << line;
      continue;
    }
    if (set == "effective") s.effective |= k->caps;
    if (set == "permitted") s.permitted |= k->caps;
    if (set == "bounding") s.bounding |= k->caps;
    if (set == "ambient") s.ambient |= k->caps;
  }
  return s;
}

// Runs a uniquely named /bin/true `n` times; the exec counter must see them.
void expect_execs_counted(Daemon& d, const TempDir& dir, const std::string& prefix) {
  const std::string bin = unique_copy("/bin/true", dir, prefix);
  const std::string series = "ksight_process_execs_total{comm=\"" + comm_of(bin) + "\"}";
  spawn_n(bin, {}, 5);
  std::string m;
  EXPECT_TRUE(eventually(
      [&] {
        m = d.scrape();
        return metric(m, series).value_or(0) >= 5;
      },
      5s))
      << series << "\n"
      << d.log();
  spawn_n(bin, {}, 3);
  EXPECT_TRUE(eventually([&] { return metric(d.scrape(), series).value_or(0) >= 8; }, 5s));
}

void expect_ready(const Daemon& d) {
  int status = 0;
  EXPECT_TRUE(eventually(
      [&] {
        http_get(d.port(), "/readyz", &status);
        return status == 200;
      },
      10s));
}

TEST(Privileges, AfterAttachOnlyWhatReadingNeedsIsLeft) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "exec,exit"}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  expect_ready(d);
  const CapMask keep = expected_auto_keep();
  auto s = runtime::read_capabilities("/proc/" + std::to_string(d.pid()) + "/status");
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->effective, keep) << runtime::cap_list(s->effective);
  expect_threads_hold(d.pid(), keep);
  // The metric says the same.
  CapabilitySets m = from_metric(d.scrape());
  EXPECT_EQ(m.effective, keep) << runtime::cap_list(m.effective);
  EXPECT_EQ(m.permitted, keep);
  EXPECT_EQ(m.bounding, keep);
  EXPECT_EQ(m.ambient, 0u);
  expect_execs_counted(d, dir, "kcap");
  EXPECT_NE(d.log().find("privileges: all probes attached; keeping"), std::string::npos) << d.log();
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Privileges, KeepNoneLeavesNothingAndMetricsStillMove) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "exec,exit", "--keep-capabilities", "none"}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  expect_ready(d);
  expect_threads_hold(d.pid(), 0);
  CapabilitySets m = from_metric(d.scrape());
  EXPECT_EQ(m, CapabilitySets{});
  expect_execs_counted(d, dir, "kcn");
  const double runs = metric_sum(d.scrape(), "ksight_bpf_program_runs_total", {"probe=\"exec\""});
  if (expected_auto_keep() & kBpf) {
    // Before 5.19 with unprivileged BPF disabled, no bpf() call works
    // without CAP_BPF: the stats cannot be read, and the log says why.
    EXPECT_EQ(runs, 0);
    EXPECT_NE(d.log().find("refuses bpf() on held file descriptors without CAP_BPF"),
              std::string::npos)
        << d.log();
  } else {
    // BPF run-time stats still read through the held program fds.
    EXPECT_GT(runs, 0);
    EXPECT_EQ(d.log().find("refuses bpf()"), std::string::npos) << d.log();
  }
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Privileges, UserSwitchKeepsTheListedCapabilities) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(
      dir,
      {"--probes", "exec,exit", "--user", "nobody", "--keep-capabilities", "CAP_DAC_READ_SEARCH"},
      false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  expect_ready(d);
  const std::string status = read_file("/proc/" + std::to_string(d.pid()) + "/status");
  EXPECT_NE(status.find("Uid:\t65534\t65534\t65534\t65534"), std::string::npos) << status;
  EXPECT_NE(status.find("Gid:\t65534\t65534\t65534\t65534"), std::string::npos) << status;
  EXPECT_NE(status.find("Groups:\t65534"), std::string::npos) << status;
  expect_threads_hold(d.pid(), kDacReadSearch);
  expect_execs_counted(d, dir, "kcu");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Privileges, BadListsAreUsageErrors) {
  for (const char* bad : {"CAP_NOPE", "none,CAP_BPF", ","}) {
    auto r = run({ksight_binary(), "run", "--keep-capabilities", bad});
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("privileges.keep_capabilities"), std::string::npos) << r.err;
  }
  // Before anything is loaded.
  auto r = run({ksight_binary(), "run", "--user", "no-such-user-ksight"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("no user 'no-such-user-ksight'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ksight::test
