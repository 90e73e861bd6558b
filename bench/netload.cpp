// ksight_netload: loopback network work at full speed, timed, for the
// network probes' overhead figures (bench/net_overhead.py).
//
//   ksight_netload connect COUNT BYTES   COUNT connections: connect, send BYTES,
//                                        accept, receive, close both ends
//   ksight_netload pingpong COUNT        one connection, COUNT 64-byte
//                                        request/response round trips
//   ksight_netload udpdrop COUNT         COUNT datagrams to a port nobody
//                                        listens on (each one a dropped packet)
//
// One thread plays both ends, so the figure is the per-operation cost of the
// kernel path with no scheduling between client and server. Prints one JSON
// line with ns_per_op.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int listener(sockaddr_in* bound) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  *bound = loopback(0);
  socklen_t len = sizeof(*bound);
  if (l < 0 || ::bind(l, reinterpret_cast<sockaddr*>(bound), len) != 0 || ::listen(l, 1024) != 0 ||
      ::getsockname(l, reinterpret_cast<sockaddr*>(bound), &len) != 0) {
    std::perror("listener");
    std::exit(1);
  }
  return l;
}

bool xfer(int from, int to, std::vector<char>& buf, size_t bytes) {
  size_t sent = 0, got = 0;
  while (sent < bytes) {
    ssize_t n = ::send(from, buf.data(), std::min(buf.size(), bytes - sent), MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
    while (got < sent) {
      ssize_t r = ::recv(to, buf.data(), buf.size(), 0);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
  }
  return true;
}

void report(const char* mode, uint64_t count, Clock::time_point start) {
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  std::printf("{\"mode\":\"%s\",\"ops\":%llu,\"ns_per_op\":%.1f}\n", mode,
              static_cast<unsigned long long>(count), ns / static_cast<double>(count));
}

int cmd_connect(uint64_t count, size_t bytes) {
  sockaddr_in addr{};
  int l = listener(&addr);
  std::vector<char> buf(std::max<size_t>(bytes, 1), 'n');
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::perror("connect");
      return 1;
    }
    int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    if (a < 0 || (bytes && !xfer(c, a, buf, bytes))) {
      std::perror("transfer");
      return 1;
    }
    // The accepting end closes first: the TIME_WAIT stays on the server
    // port, not on the client's ephemeral ports, which would run out.
    ::close(a);
    ::close(c);
  }
  report("connect", count, start);
  return 0;
}

int cmd_pingpong(uint64_t count) {
  sockaddr_in addr{};
  int l = listener(&addr);
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
  int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  int one = 1;
  ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<char> buf(64, 'p');
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    if (!xfer(c, a, buf, 64) || !xfer(a, c, buf, 64)) return 1;
  }
  report("pingpong", count, start);
  return 0;
}

int cmd_udpdrop(uint64_t count) {
  // A port that was free a moment ago: bound, then closed.
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof(addr);
  int probe = ::socket(AF_INET, SOCK_DGRAM, 0);
  ::bind(probe, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(probe);
  int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i)
    ::sendto(u, "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  report("udpdrop", count, start);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: ksight_netload connect COUNT BYTES | pingpong COUNT | udpdrop COUNT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ::prctl(PR_SET_NAME, "ksight_netload");
  if (argc < 3) return usage();
  std::string mode = argv[1];
  uint64_t count = std::strtoull(argv[2], nullptr, 10);
  if (mode == "connect" && argc == 4)
    return cmd_connect(count, std::strtoull(argv[3], nullptr, 10));
  if (mode == "pingpong") return cmd_pingpong(count);
  if (mode == "udpdrop") return cmd_udpdrop(count);
  return usage();
}
