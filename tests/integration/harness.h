#pragma once
// What the integration tests share: privilege gating, child processes with
// bounded waits, a tiny HTTP client, and readers for ksight's outputs.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ksight::test {

// Skips the test without root; under KSIGHT_REQUIRE_BPF=1 fails it instead,
// so CI cannot pass on skipped BPF tests.
#define KSIGHT_REQUIRE_BPF()                                                             \
  do {                                                                                   \
    if (auto why = ::ksight::test::bpf_unavailable_reason()) {                           \
      if (::ksight::test::bpf_required()) FAIL() << "KSIGHT_REQUIRE_BPF=1 but " << *why; \
      GTEST_SKIP() << *why;                                                              \
    }                                                                                    \
  } while (0)

std::optional<std::string> bpf_unavailable_reason();
bool bpf_required();

// A temporary directory, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process; stdout and stderr go to files. Killed if still running
// when destroyed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& stdout_path,
        const std::string& stderr_path);
  ~Child();
  Child(const Child&) = delete;
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Exit code, 128+signal when killed, or nullopt on time-out.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool exited() const { return exited_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
};

// A child whose standard output is the write end of a pipe the test holds
// the read end of; stderr goes to a file. Killed if still running when
// destroyed.
class PipedChild {
 public:
  PipedChild(const std::vector<std::string>& argv, const std::string& err_path);
  ~PipedChild();
  PipedChild(const PipedChild&) = delete;
  pid_t pid() const { return pid_; }
  int read_fd() const { return read_fd_; }
  void close_read_end();
  // True once something can be read from the pipe.
  bool readable(std::chrono::milliseconds timeout) const;
  // Exit code (128+signal), or nullopt when still running after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  std::optional<int> status_;
};

// In a forked child: execs argv with no signal blocked; exit 127 if it cannot.
[[noreturn]] void exec_argv(const std::vector<std::string>& argv);

// Runs argv to completion (bounded), returning the exit code; output in files.
struct RunResult {
  int code = -1;
  std::string out, err;
};
RunResult run(const std::vector<std::string>& argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));

// fork+exec `path` with `args` `n` times, one after another, waiting for each.
void spawn_n(const std::string& path, const std::vector<std::string>& args, int n);

// Copies `src` (e.g. /bin/true) to `dir` under a name unique to this test run,
// so its exec and exit events are told apart from everything else on the host.
std::string unique_copy(const std::string& src, const TempDir& dir, const std::string& prefix);

// The command name the kernel gives a program at `path` (its base name).
inline std::string comm_of(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

std::string read_file(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

int free_port();
// A free loopback port below the ephemeral range. For a server the test stops
// and restarts: a client retrying a port in the ephemeral range can end up
// connected to itself (TCP simultaneous open) and hold the port.
int free_port_outside_ephemeral_range();
// GET http://127.0.0.1:port/path; the body, or nullopt when nothing answers.
std::optional<std::string> http_get(int port, const std::string& path, int* status = nullptr,
                                    std::string* headers = nullptr);

// The value of one exposition line, e.g. series = `ksight_process_execs_total{comm="x"}`;
// nullopt when the series is absent.
std::optional<double> metric(const std::string& exposition, const std::string& series);

// Polls `cond` every 50 ms until true or the timeout passes.
// Sum of every series of `family` whose labels contain all of `labels`
// (each written k="v"), in a Prometheus exposition.
double metric_sum(const std::string& exposition, const std::string& family,
                  const std::vector<std::string>& labels = {});

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout);

// Names of loaded BPF programs and maps, from the kernel via bpftool.
std::vector<std::string> loaded_bpf_programs();

// `ksight run` on a free loopback port, writing OTLP (1 s interval) and JSON
// lines into `dir`, plus `extra` arguments. Killed if still running at the end.
class Daemon {
 public:
  Daemon(const TempDir& dir, std::vector<std::string> extra = {}, bool outputs = true);
  // Up when /metrics answers and every probe in `probes` reports attached.
  bool wait_ready(const std::vector<std::string>& probes = {"exec", "exit"});
  std::string scrape();
  std::optional<int> stop(int sig = 15 /* SIGTERM */);
  const std::string& otlp() const { return otlp_; }
  const std::string& events() const { return events_; }
  std::string log() const { return read_file(log_); }
  int port() const { return port_; }
  pid_t pid() const { return child_->pid(); }

 private:
  int port_;
  std::string otlp_, events_, log_;
  std::unique_ptr<Child> child_;
};

// The ksight binary under test.
inline const char* ksight_binary() {
  return KSIGHT_BINARY;
}

}  // namespace ksight::test
