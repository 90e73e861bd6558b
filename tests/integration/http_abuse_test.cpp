// The HTTP endpoint under abuse: thousands of clients that send half a
// request line and wait, oversized headers, many concurrent scrapers. A
// normal scrape must still be answered within a second, and the collect must
// not run once per scraper.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Enough descriptors for thousands of client sockets in this process.
void raise_fd_limit(rlim_t want) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min(want, rl.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// A connection from `source` (a 127.0.0.x address) to the daemon that sends
// half a request line and then says nothing. -1 when connect fails.
int slow_client(int port, const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
    ::close(fd);
    return -1;
  }
  ::send(fd, "GET /metr", 9, MSG_NOSIGNAL);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// How many of `fds` the server still holds open (no EOF, no reset).
size_t still_open(const std::vector<int>& fds) {
  size_t open = 0;
  for (int fd : fds) {
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
  }
  return open;
}

struct Held {
  std::vector<int> fds;
  ~Held() {
    for (int fd : fds) ::close(fd);
  }
};

// Scrapes /metrics `n` times from 127.0.0.1; every one must answer 200 within
// a second. Returns the slowest.
std::chrono::milliseconds scrape_n_within_a_second(int port, int n) {
  std::chrono::milliseconds slowest{0};
  for (int i = 0; i < n; ++i) {
    auto start = Clock::now();
    int status = 0;
    auto body = http_get(port, "/metrics", &status);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    EXPECT_TRUE(body.has_value()) << "scrape " << i << " got no answer";
    EXPECT_EQ(status, 200) << "scrape " << i;
    EXPECT_LT(took, 1000ms) << "scrape " << i;
    slowest = std::max(slowest, took);
    std::this_thread::sleep_for(100ms);
  }
  return slowest;
}

double refused(const std::string& metrics, const std::string& reason) {
  return metric(metrics, "ksight_http_connections_refused_total{reason=\"" + reason + "\"}")
      .value_or(0);
}

TEST(HttpAbuse, TwoThousandSlowClientsFromOneAddressDoNotDelayAScrape) {
  KSIGHT_REQUIRE_BPF();
  raise_fd_limit(8192);
  TempDir dir;
  Daemon d(dir, {}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  Held held;
  for (int i = 0; i < 2000; ++i) {
    int fd = slow_client(d.port(), "127.0.0.2");
    ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
    held.fds.push_back(fd);
  }
  // The server keeps the per-client limit (16 by default) and closes the rest.
  size_t open = 0;
  EXPECT_TRUE(eventually([&] { return (open = still_open(held.fds)) <= 16; }, 5s))
      << open << " slow connections still open";
  auto slowest = scrape_n_within_a_second(d.port(), 10);
  std::string m = d.scrape();
  EXPECT_GE(refused(m, "per_client"), 2000 - 16 - 2) << m;
  std::cout << "slowest scrape with 2000 slow clients from one address: " << slowest.count()
            << " ms; held " << open << "\n";
  ASSERT_EQ(d.stop(), 0);
}

TEST(HttpAbuse, SlowClientsFromManyAddressesLeaveRoomForAScraper) {
  KSIGHT_REQUIRE_BPF();
  raise_fd_limit(8192);
  TempDir dir;
  std::ofstream(dir.file("ksight.yaml"))
      << "web:\n  max_connections: 256\n  max_connections_per_client: 16\n";
  Daemon d(dir, {"--config", dir.file("ksight.yaml")}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  Held held;
  // 2000 connections from 40 addresses: 16 allowed each would be 640, over
  // the total of 256.
  auto start = Clock::now();
  for (int i = 0; i < 2000; ++i) {
    int fd = slow_client(d.port(), "127.0.0." + std::to_string(2 + i % 40));
    ASSERT_GE(fd, 0) << "connect " << i << ": " << std::strerror(errno);
    held.fds.push_back(fd);
  }
  auto connecting = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  // Refused connections are accepted and closed, not left in the backlog.
  EXPECT_LT(connecting, 3000ms);
  size_t open = 0;
  // Settled: nothing more is being closed.
  size_t last = SIZE_MAX;
  eventually(
      [&] {
        open = still_open(held.fds);
        bool settled = open == last;
        last = open;
        return settled;
      },
      5s);
  EXPECT_LE(open, 256u) << "the total limit did not hold";
  EXPECT_GE(open, 200u) << "the limit refused far more than it needed to";
  auto slowest = scrape_n_within_a_second(d.port(), 10);
  std::string m = d.scrape();
  EXPECT_GT(refused(m, "reserve") + refused(m, "total"), 0) << m;
  std::cout << "slowest scrape with 2000 slow clients from 40 addresses: " << slowest.count()
            << " ms; held " << open << "\n";
  ASSERT_EQ(d.stop(), 0);
}

TEST(HttpAbuse, OversizedRequestIsRefusedAndTheServerGoesOn) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  int status = 0;
  // A 64 KiB header: over web.max_request_size (16KiB).
  http_get(d.port(), "/metrics HTTP/1.0\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\nX: y",
           &status);
  EXPECT_GE(status, 400);
  EXPECT_LT(status, 500);
  http_get(d.port(), "/" + std::string(64 * 1024, 'a'), &status);
  EXPECT_GE(status, 400);
  EXPECT_LT(status, 500);
  EXPECT_EQ(http_get(d.port(), "/healthz", &status), "ok\n");
  ASSERT_EQ(d.stop(), 0);
}

TEST(HttpAbuse, ConcurrentScrapesCauseAtMostOneCollectPerInterval) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--min-scrape-interval", "1s"}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  auto collects = [&] { return metric(d.scrape(), "ksight_scrape_collects_total").value_or(-1); };
  double before = collects();
  ASSERT_GE(before, 1);
  std::atomic<int> answered{0};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      while (Clock::now() - start < 3s)
        if (http_get(d.port(), "/metrics")) ++answered;
    });
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  double after = collects();
  // One collect per second at most, plus the one for the final scrape.
  EXPECT_LE(after - before, std::ceil(seconds) + 2) << answered << " scrapes";
  EXPECT_GT(answered.load(), 20);
  std::cout << answered << " scrapes in " << seconds << " s caused " << after - before
            << " collects\n";
  ASSERT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace ksight::test
