// Issue 7's system probes, each driven by real work whose size the test
// knows: syscalls by a getpid loop, biolatency by O_DIRECT writes on the disk
// under the test's directory, oomkill by a process over a memory cgroup's
// limit, signal by a SIGKILL, profile by a busy loop, and the token bucket by
// an open storm.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const char* work_binary() {
  return KSIGHT_WORK;
}

// The whole disk (vda, not vda1) that holds `path`, as sysfs names it.
std::string disk_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  auto dev = std::filesystem::canonical("/sys/dev/block/" + std::to_string(major(st.st_dev)) + ":" +
                                        std::to_string(minor(st.st_dev)));
  if (std::filesystem::exists(dev / "partition")) dev = dev.parent_path();
  return dev.filename();
}

// Runs `ksight trace ARGS -- CMD...` to completion and returns stdout; the
// summary line is in *err.
std::string trace_command(const TempDir& dir, std::vector<std::string> args,
                          const std::vector<std::string>& command, std::string* err,
                          int* code = nullptr) {
  std::vector<std::string> argv{ksight_binary(), "trace"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--");
  argv.insert(argv.end(), command.begin(), command.end());
  Child c(argv, dir.file("trace.out"), dir.file("trace.err"));
  auto rc = c.wait(60s);
  if (code) *code = rc.value_or(-1);
  *err = read_file(dir.file("trace.err"));
  return read_file(dir.file("trace.out"));
}

// "(N samples" of the histogram titled `title` in trace output; -1 if absent.
long samples_of(const std::string& out, const std::string& title) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(title + R"( \((\d+) samples)"))) return -1;
  return std::stol(m[1]);
}

TEST(SystemProbes, GetpidLoopRaisesThatSyscallsCount) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "syscalls"}, false);
  ASSERT_TRUE(d.wait_ready({"syscalls"})) << d.log();
  const double before = metric_sum(d.scrape(), "ksight_syscalls_total", {"syscall=\"getpid\""});
  const double errors_before =
      metric_sum(d.scrape(), "ksight_syscall_errors_total", {"syscall=\"openat\""});
  constexpr int kCalls = 200000, kOpens = 500;
  ASSERT_EQ(run({work_binary(), "getpid", std::to_string(kCalls)}).code, 0);
  ASSERT_EQ(run({work_binary(), "open-missing", std::to_string(kOpens)}).code, 0);
  const std::string after = d.scrape();
  EXPECT_GE(metric_sum(after, "ksight_syscalls_total", {"syscall=\"getpid\""}) - before, kCalls);
  EXPECT_GE(
      metric_sum(after, "ksight_syscall_errors_total", {"syscall=\"openat\""}) - errors_before,
      kOpens);
  // The latency histogram counts the same calls.
  EXPECT_GE(metric_sum(after, "ksight_syscall_latency_seconds_count", {"syscall=\"getpid\""}),
            kCalls);
}

TEST(SystemProbes, TraceSyscallsBySyscallCountsExactlyTheCommandsCalls) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string err;
  auto out = trace_command(dir, {"syscalls", "--by", "syscall"},
                           {work_binary(), "getpid", "100000"}, &err);
  // The command's cgroup holds only ksight-work: its own getpid calls, and
  // none from anywhere else on the machine.
  long n = samples_of(out, "syscall = getpid");
  EXPECT_GE(n, 100000) << out << err;
  EXPECT_LE(n, 100010) << out;
  std::printf("[ seen ] %ld getpid calls of 100000\n", n);
  EXPECT_NE(out.find("ksight_syscalls_total"), std::string::npos) << out;
}

TEST(SystemProbes, DirectWritesShowInTheDisksLatencyHistogram) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string disk = disk_of(dir.path());
  ASSERT_FALSE(disk.empty());
  Daemon d(dir, {"--probes", "biolatency"}, false);
  ASSERT_TRUE(d.wait_ready({"biolatency"})) << d.log();
  const std::vector<std::string> labels{"disk=\"" + disk + "\"", "op=\"write\""};
  const double before = metric_sum(d.scrape(), "ksight_block_io_latency_seconds_count", labels);
  const double bytes_before = metric_sum(d.scrape(), "ksight_block_io_bytes_total", labels);
  constexpr int kWrites = 64;
  ASSERT_EQ(run({work_binary(), "dsync-write", dir.file("data"), std::to_string(kWrites)}).code, 0);
  const std::string after = d.scrape();
  EXPECT_GE(metric_sum(after, "ksight_block_io_latency_seconds_count", labels) - before, kWrites)
      << after;
  EXPECT_GE(metric_sum(after, "ksight_block_io_bytes_total", labels) - bytes_before,
            kWrites * 4096.0);
}

TEST(SystemProbes, TraceBiolatencyByDiskSeesTheCommandsWrites) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string disk = disk_of(dir.path());
  std::string err;
  auto out = trace_command(dir, {"biolatency", "--by", "disk"},
                           {work_binary(), "dsync-write", dir.file("data"), "40"}, &err);
  EXPECT_GE(samples_of(out, "disk = " + disk), 40) << out << err;
  std::printf("[ seen ] %ld I/Os on %s for 40 direct writes\n", samples_of(out, "disk = " + disk),
              disk.c_str());
}

// A memory cgroup with a limit, on cgroup v1 (the hybrid layout) or v2.
class MemoryCgroup {
 public:
  explicit MemoryCgroup(const std::string& name, size_t limit_bytes) {
    const std::string limit = std::to_string(limit_bytes);
    if (std::filesystem::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
      path_ = "/sys/fs/cgroup/memory/" + name;
      std::filesystem::create_directory(path_);
      write("memory.limit_in_bytes", limit);
      write("memory.memsw.limit_in_bytes", limit);  // where swap accounting exists
    } else {
      write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
      path_ = "/sys/fs/cgroup/" + name;
      std::filesystem::create_directory(path_);
      write("memory.max", limit);
      write("memory.swap.max", "0");
    }
  }
  ~MemoryCgroup() { ::rmdir(path_.c_str()); }
  // Forks a child that joins the cgroup, then execs argv.
  pid_t spawn(const std::vector<std::string>& argv) const {
    pid_t pid = ::fork();
    if (pid == 0) {
      write_file(path_ + "/cgroup.procs", std::to_string(::getpid()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return pid;
  }

 private:
  static void write_file(const std::string& path, const std::string& value) {
    std::ofstream(path) << value;
  }
  void write(const std::string& file, const std::string& value) const {
    write_file(path_ + "/" + file, value);
  }
  std::string path_;
};

std::vector<json> events_of(const std::string& path, const std::string& probe) {
  std::vector<json> out;
  for (const auto& l : read_lines(path)) {
    auto ev = json::parse(l, nullptr, false);
    if (!ev.is_discarded() && ev["probe"] == probe) out.push_back(ev);
  }
  return out;
}

TEST(SystemProbes, ProcessOverAMemoryCgroupLimitIsReportedByOomkill) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "oomkill,signal,exit"});
  ASSERT_TRUE(d.wait_ready({"oomkill", "signal", "exit"})) << d.log();
  MemoryCgroup cg("ksight-oom-test-" + std::to_string(::getpid()), 32u << 20);
  pid_t pid = cg.spawn({work_binary(), "alloc", "256"});
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "not OOM-killed";
  // The kill as oomkill saw it, and the same death as the exit and signal
  // probes saw it.
  json kill;
  bool exit_seen = false, sigkill_seen = false;
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& ev : events_of(d.events(), "oomkill"))
          if (ev["victim_pid"] == pid) kill = ev;
        for (const auto& ev : events_of(d.events(), "exit"))
          exit_seen = exit_seen || (ev["pid"] == pid && ev["signal"] == "SIGKILL");
        for (const auto& ev : events_of(d.events(), "signal"))
          sigkill_seen = sigkill_seen || (ev["target_pid"] == pid && ev["signal"] == "SIGKILL");
        return !kill.is_null() && exit_seen && sigkill_seen;
      },
      10s))
      << read_file(d.events());
  ASSERT_FALSE(kill.is_null());
  EXPECT_EQ(kill["victim_comm"], "ksight-work");
  EXPECT_GT(kill["anon_rss_kb"].get<long>(), 16 * 1024);  // it had touched most of its 32 MiB
  EXPECT_LE(kill["anon_rss_kb"].get<long>(), 33 * 1024);
  EXPECT_TRUE(exit_seen);
  EXPECT_TRUE(sigkill_seen);
  EXPECT_GE(metric_sum(d.scrape(), "ksight_oom_kills_total"), 1);
  std::printf("[ seen ] OOM kill of pid %d, anon_rss %ld KiB in a 32 MiB cgroup\n", pid,
              kill["anon_rss_kb"].get<long>());
}

TEST(SystemProbes, SigkilledChildShowsInSignalAndExit) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "signal,exit"});
  ASSERT_TRUE(d.wait_ready({"signal", "exit"})) << d.log();
  const double before = metric_sum(d.scrape(), "ksight_signals_total", {"signal=\"SIGKILL\""});
  Child sleeper({work_binary(), "sleep", "30"}, dir.file("s.out"), dir.file("s.err"));
  std::this_thread::sleep_for(100ms);
  sleeper.signal(SIGKILL);
  ASSERT_EQ(sleeper.wait(5s), 128 + SIGKILL);
  const pid_t pid = sleeper.pid();
  json sig, exit;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& ev : events_of(d.events(), "signal"))
          if (ev["target_pid"] == pid && ev["signal"] == "SIGKILL") sig = ev;
        for (const auto& ev : events_of(d.events(), "exit"))
          if (ev["pid"] == pid) exit = ev;
        return !sig.is_null() && !exit.is_null();
      },
      10s))
      << read_file(d.events());
  EXPECT_EQ(sig["pid"], ::getpid());  // the sender: this test
  EXPECT_EQ(sig["target_comm"], "ksight-work");
  EXPECT_EQ(sig["result"], "delivered");
  EXPECT_EQ(exit["signal"], "SIGKILL");
  EXPECT_GE(metric_sum(d.scrape(), "ksight_signals_total", {"signal=\"SIGKILL\""}) - before, 1);
  std::printf("[ seen ] SIGKILL of pid %d from pid %d, result %s\n", pid, sig["pid"].get<int>(),
              sig["result"].get<std::string>().c_str());
}

TEST(SystemProbes, ProfileCountsABusyLoopsSamples) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string err;
  // 1 s of CPU time at 99 Hz (spin counts CPU time, so other work on the
  // machine does not change it): about 99 samples, all in user mode.
  auto out = trace_command(dir, {"profile", "--by", "process"}, {work_binary(), "spin", "1"}, &err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(\nksight-work +(\d+)\n)"))) << out << err;
  long samples = std::stol(m[1]);
  EXPECT_GE(samples, 60) << out;
  EXPECT_LE(samples, 130) << out;
  std::printf("[ seen ] %ld samples of a 1 s busy loop at 99 Hz\n", samples);
  // At 499 Hz the same second gives about five times as many.
  out = trace_command(dir, {"profile", "--frequency", "499"}, {work_binary(), "spin", "1"}, &err);
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(ksight-work +user +(\d+)\n)"))) << out;
  EXPECT_GE(std::stol(m[1]), 300) << out;
  EXPECT_LE(std::stol(m[1]), 650) << out;
}

TEST(SystemProbes, TokenBucketDropsAndCountsPastTheRate) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  constexpr int kOpens = 20000;
  std::string err;
  auto out = trace_command(dir, {"open", "--failed", "--rate-limit", "200", "-o", "json"},
                           {work_binary(), "open-missing", std::to_string(kOpens)}, &err);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      err, m, std::regex(R"((\d+) events printed, (\d+) lost \(rate_limit (\d+)\))")))
      << err;
  const long printed = std::stol(m[1]), lost = std::stol(m[2]), limited = std::stol(m[3]);
  EXPECT_EQ(lost, limited) << err;  // no other reason
  // Every failed open is either printed or counted as dropped (the dynamic
  // loader may fail a few opens of its own before main).
  EXPECT_GE(printed + limited, kOpens) << err;
  EXPECT_LE(printed + limited, kOpens + 20) << err;
  // At most the burst (one second's worth) plus the rate for as long as it ran.
  EXPECT_GE(printed, 50);
  EXPECT_LT(printed, 2000) << "the limit did not hold";
  EXPECT_EQ(static_cast<long>(read_lines(dir.file("trace.out")).size()), printed);
}

TEST(SystemProbes, OpenCountsStayExactUnderTheRateLimit) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::ofstream(dir.file("ksight.yaml")) << "events:\n  rate_limit: 100\n";
  Daemon d(dir, {"--config", dir.file("ksight.yaml"), "--probes", "open"});
  ASSERT_TRUE(d.wait_ready({"open"})) << d.log();
  const std::string before = d.scrape();
  constexpr int kOpens = 5000;
  ASSERT_EQ(run({work_binary(), "open-missing", std::to_string(kOpens)}).code, 0);
  const std::string after = d.scrape();
  auto delta = [&](const std::string& family, const std::vector<std::string>& labels) {
    return metric_sum(after, family, labels) - metric_sum(before, family, labels);
  };
  EXPECT_GE(delta("ksight_file_opens_total", {"result=\"ENOENT\""}), kOpens);
  EXPECT_GT(delta("ksight_events_lost_total", {"probe=\"open\"", "reason=\"rate_limit\""}),
            kOpens / 2);
}

}  // namespace
}  // namespace ksight::test
