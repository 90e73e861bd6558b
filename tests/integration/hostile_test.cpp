// Issue 12: nothing a local user or a network client does can crash, blind or
// bloat the agent. Each test plays the hostile part for real: a process named
// with invalid bytes or terminal escapes, a pipe nobody reads, a full disk, a
// SIGKILLed tracer.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

// A child whose standard output is the write end of a pipe the test holds
// the read end of; stderr goes to a file.
class PipedChild {
 public:
  PipedChild(const std::vector<std::string>& argv, const std::string& err_path) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(p[1], STDOUT_FILENO);
      int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(err, STDERR_FILENO);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(p[1]);
    read_fd_ = p[0];
  }
  ~PipedChild() {
    close_read_end();
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  int read_fd() const { return read_fd_; }
  void close_read_end() {
    if (read_fd_ >= 0) ::close(read_fd_);
    read_fd_ = -1;
  }
  // True once something can be read from the pipe.
  bool readable(std::chrono::milliseconds timeout) const {
    pollfd p{read_fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && (p.revents & POLLIN);
  }
  // Exit code (128+signal), or nullopt when still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::optional<int> status_;
};

// `cp /bin/true /tmp/$'\xff\xfe'; /tmp/$'\xff\xfe'` with the daemon running
// made /metrics unparseable and the OTLP export abort the daemon.
TEST(Hostile, InvalidUtf8CommKeepsMetricsValidAndTheDaemonAlive) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string bad = dir.file("\xff\xfe");
  std::filesystem::copy_file("/bin/true", bad);
  ::chmod(bad.c_str(), 0755);
  Daemon d(dir, {"--probes", "exec,exit"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  spawn_n(bad, {}, 3);

  const std::string series = "ksight_process_execs_total{comm=\"\xEF\xBF\xBD\xEF\xBF\xBD\"}";
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        body = d.scrape();
        return metric(body, series).value_or(0) >= 3;
      },
      10s))
      << body;
  auto r = run({"/bin/sh", "-c", "promtool check metrics < " + write_file(dir, "m.txt", body)});
  EXPECT_EQ(r.code, 0) << r.out << r.err;

  // Two OTLP exports (1 s interval) after the execs, every line valid JSON.
  std::this_thread::sleep_for(2500ms);
  auto lines = read_lines(d.otlp());
  ASSERT_GE(lines.size(), 2u);
  bool saw_comm = false;
  for (const auto& l : lines) {
    json doc;
    ASSERT_NO_THROW(doc = json::parse(l)) << l;
    saw_comm = saw_comm || l.find("\"\xEF\xBF\xBD\xEF\xBF\xBD\"") != std::string::npos;
  }
  EXPECT_TRUE(saw_comm) << "the comm, as U+FFFD U+FFFD, in the OTLP file";
  // JSON lines keep the bytes, escaped as \u00ff\u00fe.
  bool saw_event = false;
  for (const auto& l : read_lines(d.events())) {
    json ev;
    ASSERT_NO_THROW(ev = json::parse(l)) << l;
    saw_event = saw_event || ev["comm"] == "\xC3\xBF\xC3\xBE";
  }
  EXPECT_TRUE(saw_event);
  // Alive to the end: a clean exit on SIGTERM, not 134 from an abort.
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// `ksight trace exec | head -1` never exited: SIGPIPE is ignored and write
// errors went unchecked. Now the trace ends as soon as the reader has gone.
TEST(Hostile, TraceEndsPromptlyWhenThePipeReaderGoes) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string t = unique_copy("/bin/true", dir, "ksp");
  PipedChild trace({ksight_binary(), "trace", "exec"}, dir.file("err"));
  // Execs until the first line (the header and an event) arrives.
  bool got = false;
  for (int i = 0; i < 100 && !got; ++i) {
    spawn_n(t, {}, 1);
    got = trace.readable(100ms);
  }
  ASSERT_TRUE(got) << read_file(dir.file("err"));
  char buf[256];
  ASSERT_GT(::read(trace.read_fd(), buf, sizeof(buf)), 0);
  trace.close_read_end();  // what head -1 does after its line
  auto start = std::chrono::steady_clock::now();
  auto code = trace.wait(3s);
  ASSERT_TRUE(code.has_value()) << "trace still running 3 s after its reader went";
  EXPECT_EQ(*code, 0) << read_file(dir.file("err"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // And with events still coming (a failed write, not only the poll).
  PipedChild trace2({ksight_binary(), "trace", "exec"}, dir.file("err2"));
  std::this_thread::sleep_for(1500ms);  // attached
  trace2.close_read_end();
  spawn_n(t, {}, 3);
  code = trace2.wait(3s);
  ASSERT_TRUE(code.has_value()) << read_file(dir.file("err2"));
  EXPECT_EQ(*code, 0) << read_file(dir.file("err2"));
}

// The JSON lines sink wrote to its output while holding the registry lock:
// a stdout nobody reads stalled /metrics.
TEST(Hostile, StalledEventsOutputDoesNotStallScrapes) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  int port = free_port();
  PipedChild d({ksight_binary(), "run", "--listen", "127.0.0.1:" + std::to_string(port), "--probes",
                "exec,exit,open", "--events-file", "-"},
               dir.file("log"));
  ASSERT_TRUE(eventually([&] { return http_get(port, "/metrics").has_value(); }, 15s))
      << read_file(dir.file("log"));
  // Far more than the 64 KiB a pipe holds, never read, in bursts: batches of
  // many events, so the sink blocks while the dispatcher is still decoding.
  spawn_n(KSIGHT_WORK, {"open-missing", "20000"}, 1);
  std::this_thread::sleep_for(500ms);
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto body = http_get(port, "/metrics");
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(body.has_value()) << "no answer";
    EXPECT_LT(took, 1s);
    EXPECT_NE(body->find("ksight_build_info"), std::string::npos);
  }
  EXPECT_FALSE(d.wait(0ms).has_value()) << "the daemon died";
}

std::string daemon_args_log(const TempDir& dir) {
  return read_file(dir.file("err"));
}

// Output files are created 0640, never through a symbolic link.
TEST(Hostile, OutputFilesRefuseSymlinks) {
  TempDir dir;
  ::symlink(dir.file("target").c_str(), dir.file("link").c_str());
  for (const char* flag : {"--events-file", "--otlp-file"}) {
    auto r = run({ksight_binary(), "run", "--listen", "127.0.0.1:0", flag, dir.file("link")});
    EXPECT_EQ(r.code, 1) << flag << r.err;
    EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << flag << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("target"))) << flag;
  }
}

// logrotate renames the file and sends SIGHUP: new events go to a new file.
TEST(Hostile, SighupReopensTheEventsFile) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string a = unique_copy("/bin/true", dir, "ksa");
  std::string b = unique_copy("/bin/true", dir, "ksb");
  Daemon d(dir, {"--probes", "exec,exit"});
  ASSERT_TRUE(d.wait_ready()) << d.log();
  struct stat st {};
  ASSERT_EQ(::stat(d.events().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  spawn_n(a, {}, 1);
  ASSERT_TRUE(
      eventually([&] { return read_file(d.events()).find(comm_of(a)) != std::string::npos; }, 10s));
  std::filesystem::rename(d.events(), d.events() + ".1");
  ::kill(d.pid(), SIGHUP);
  ASSERT_TRUE(eventually([&] { return std::filesystem::exists(d.events()); }, 5s)) << d.log();
  spawn_n(b, {}, 1);
  ASSERT_TRUE(
      eventually([&] { return read_file(d.events()).find(comm_of(b)) != std::string::npos; }, 10s))
      << d.log();
  EXPECT_EQ(read_file(d.events() + ".1").find(comm_of(b)), std::string::npos);
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// A full disk: writes fail, are counted, and the agent goes on.
TEST(Hostile, WriteFailuresAreCountedAndTheAgentKeepsRunning) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string small = dir.file("small");
  std::filesystem::create_directory(small);
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=64k"), 0) << std::strerror(errno);
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{small};
  int port = free_port();
  Child d({ksight_binary(), "run", "--listen", "127.0.0.1:" + std::to_string(port), "--probes",
           "exec,exit", "--events-file", small + "/events.json", "--otlp-file",
           small + "/otlp.json", "--otlp-interval", "1s"},
          dir.file("out"), dir.file("err"));
  ASSERT_TRUE(eventually([&] { return http_get(port, "/metrics").has_value(); }, 15s))
      << daemon_args_log(dir);
  std::string t = unique_copy("/bin/true", dir, "ksf");
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        spawn_n(t, {}, 50);
        body = http_get(port, "/metrics").value_or("");
        return metric(body, "ksight_export_write_errors_total{output=\"events_file\"}")
                       .value_or(0) > 0 &&
               metric(body, "ksight_export_write_errors_total{output=\"otlp_file\"}").value_or(0) >
                   0;
      },
      30s))
      << body << daemon_args_log(dir);
  EXPECT_GT(
      metric(body, "ksight_export_dropped_events_total{exporter=\"events_file\"}").value_or(0), 0);
  // Still counting execs, still answering, and a clean exit.
  const std::string execs = "ksight_process_execs_total{comm=\"" + comm_of(t) + "\"}";
  double before = metric(body, execs).value_or(0);
  spawn_n(t, {}, 5);
  EXPECT_TRUE(eventually(
      [&] {
        return metric(http_get(port, "/metrics").value_or(""), execs).value_or(0) >= before + 5;
      },
      10s));
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait(15s), 0) << daemon_args_log(dir);
}

}  // namespace
}  // namespace ksight::test
