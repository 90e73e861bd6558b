// Issue 14: the systemd notify protocol, with the test as the service
// manager: a unix datagram socket in NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID in the environment, as systemd sets them for Type=notify with
// WatchdogSec=.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool ok() const { return bound_; }
  // The next datagram, or nullopt after `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<size_t>(n));
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
};

// `ksight run` under the notify protocol; WATCHDOG_PID is the daemon's own
// pid (the shell execs it, keeping its pid).
struct NotifiedDaemon {
  NotifiedDaemon(const TempDir& dir, const std::string& socket, const std::string& watchdog_usec)
      : port(free_port()) {
    ::setenv("NOTIFY_SOCKET", socket.c_str(), 1);
    ::setenv("WATCHDOG_USEC", watchdog_usec.c_str(), 1);
    child = std::make_unique<Child>(
        std::vector<std::string>{"/bin/sh", "-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
                                 ksight_binary(), "run", "--probes", "exec,exit", "--listen",
                                 "127.0.0.1:" + std::to_string(port)},
        dir.file("out"), dir.file("log"));
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    log = dir.file("log");
  }
  int port;
  std::string log;
  std::unique_ptr<Child> child;
};

TEST(ServiceNotify, ReadyAfterAttachWatchdogWhileAliveStoppingOnTerm) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  NotifySocket sock(dir.file("notify"));
  ASSERT_TRUE(sock.ok());
  NotifiedDaemon d(dir, dir.file("notify"), "1000000");  // 1 s: a ping every 0.5 s

  auto first = sock.next(20s);
  ASSERT_TRUE(first) << read_file(d.log);
  EXPECT_EQ(first->rfind("READY=1\n", 0), 0u) << *first;
  EXPECT_NE(first->find("STATUS=2 probes loaded"), std::string::npos) << *first;
  // Ready means ready: every probe is attached and /readyz says so already.
  int status = 0;
  http_get(d.port, "/readyz", &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(read_file(d.log).find("probe exit attached"), std::string::npos);

  std::vector<Clock::time_point> pings;
  const auto until = Clock::now() + 2500ms;
  while (Clock::now() < until) {
    auto m = sock.next(100ms);
    if (!m) continue;
    EXPECT_EQ(*m, "WATCHDOG=1");
    pings.push_back(Clock::now());
  }
  EXPECT_GE(pings.size(), 4u);
  for (size_t i = 1; i < pings.size(); ++i) EXPECT_LT(pings[i] - pings[i - 1], 900ms);

  d.child->signal(SIGTERM);
  std::optional<std::string> m;
  while ((m = sock.next(5s)) && *m == "WATCHDOG=1") {
  }
  ASSERT_TRUE(m);
  EXPECT_EQ(m->rfind("STOPPING=1", 0), 0u) << *m;
  EXPECT_EQ(d.child->wait(15s), 0) << read_file(d.log);
}

// A dead reader thread stops the pings: systemd's watchdog then restarts the
// service (KSIGHT_FAULT_INJECT=reader_exit, as in Hostile.*).
TEST(ServiceNotify, NoWatchdogPingsOnceTheReaderIsDead) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  NotifySocket sock(dir.file("notify"));
  ASSERT_TRUE(sock.ok());
  ::setenv("KSIGHT_FAULT_INJECT", "reader_exit", 1);
  NotifiedDaemon d(dir, dir.file("notify"), "1000000");
  ::unsetenv("KSIGHT_FAULT_INJECT");
  auto first = sock.next(20s);
  ASSERT_TRUE(first) << read_file(d.log);
  EXPECT_EQ(first->rfind("READY=1\n", 0), 0u) << *first;
  // Unhealthy once the reader has not beaten for 3 s (Agent::kStallNs).
  int status = 0;
  ASSERT_TRUE(eventually(
      [&] {
        http_get(d.port, "/healthz", &status);
        return status == 503;
      },
      8s));
  while (sock.next(0ms)) {
  }
  int pings = 0;
  const auto until = Clock::now() + 2s;
  while (Clock::now() < until) {
    if (auto m = sock.next(100ms); m && *m == "WATCHDOG=1") ++pings;
  }
  EXPECT_EQ(pings, 0);
}

}  // namespace
}  // namespace ksight::test
