// ksight-work: the exact, countable work the integration tests trace. One
// process, no shell, so the counts it produces are the counts it asked for.
//   ksight-work getpid N           N getpid syscalls
//   ksight-work open-missing N     N opens of a path that does not exist
//   ksight-work open-ok N          N opens of /dev/null that succeed
//   ksight-work dsync-write PATH N N 4 KiB O_DIRECT|O_DSYNC writes to PATH
//   ksight-work spin SECONDS       burn SECONDS of CPU time in user space (longer
//                                  in wall time when it has to share a CPU)
//   ksight-work alloc MIB          touch MIB of anonymous memory, then sleep
//   ksight-work sleep SECONDS
//   ksight-work pingpong N         N round trips over two pipes with a child
//                                  (two wake-ups and context switches each)
//   ksight-work signals N          N SIGUSR1 sent to itself and handled
//   ksight-work tcp-send IP PORT N N bytes to IP:PORT in 1000-byte writes, then
//                                  waits for the peer to close: every
//                                  retransmit happens while it runs
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

int usage() {
  std::fprintf(
      stderr,
      "usage: ksight-work getpid N | open-missing N | open-ok N | dsync-write PATH N | spin S | "
      "alloc MIB | sleep S | pingpong N | signals N | tcp-send IP PORT N\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  if (mode == "getpid") {
    long n = std::atol(argv[2]);
    for (long i = 0; i < n; ++i) ::syscall(SYS_getpid);
  } else if (mode == "open-missing") {
    long n = std::atol(argv[2]);
    for (long i = 0; i < n; ++i) {
      int fd = ::open("/nonexistent/ksight-work", O_RDONLY);
      if (fd >= 0) ::close(fd);
    }
  } else if (mode == "open-ok") {
    long n = std::atol(argv[2]);
    for (long i = 0; i < n; ++i) {
      int fd = ::open("/dev/null", O_RDONLY);
      if (fd >= 0) ::close(fd);
    }
  } else if (mode == "dsync-write") {
    if (argc < 4) return usage();
    long n = std::atol(argv[3]);
    int fd = ::open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_DSYNC, 0600);
    if (fd < 0) {
      std::perror(argv[2]);
      return 1;
    }
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, 4096) != 0) return 1;
    std::memset(buf, 'k', 4096);
    for (long i = 0; i < n; ++i) {
      if (::pwrite(fd, buf, 4096, i * 4096) != 4096 || ::fsync(fd) != 0) {
        std::perror("write");
        return 1;
      }
    }
    ::close(fd);
    std::free(buf);
  } else if (mode == "spin") {
    // CPU time, not wall time: what a profiler samples is the time it ran,
    // and a test beside other work (CI's builds, apt) must not see fewer
    // samples because the loop was scheduled out.
    auto cpu_seconds = [] {
      timespec ts{};
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    };
    const double end = cpu_seconds() + std::atof(argv[2]);
    volatile unsigned long x = 0;
    while (cpu_seconds() < end)
      for (int i = 0; i < 100000; ++i) x = x + 1;
  } else if (mode == "alloc") {
    size_t bytes = static_cast<size_t>(std::atol(argv[2])) << 20;
    auto* p = static_cast<char*>(
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) return 1;
    for (size_t off = 0; off < bytes; off += 4096) p[off] = 1;
    std::this_thread::sleep_for(std::chrono::seconds(30));
  } else if (mode == "pingpong") {
    long n = std::atol(argv[2]);
    int there[2], back[2];
    if (::pipe(there) != 0 || ::pipe(back) != 0) return 1;
    char b = 0;
    pid_t child = ::fork();
    if (child == 0) {
      ::close(there[1]);  // or the read below never sees EOF
      ::close(back[0]);
      while (::read(there[0], &b, 1) == 1) (void)!::write(back[1], &b, 1);
      ::_exit(0);
    }
    ::close(there[0]);
    ::close(back[1]);
    for (long i = 0; i < n; ++i) {
      if (::write(there[1], &b, 1) != 1 || ::read(back[0], &b, 1) != 1) return 1;
    }
    ::close(there[1]);
    ::waitpid(child, nullptr, 0);
  } else if (mode == "signals") {
    long n = std::atol(argv[2]);
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(SIGUSR1, &sa, nullptr);
    for (long i = 0; i < n; ++i) ::kill(::getpid(), SIGUSR1);
  } else if (mode == "tcp-send") {
    if (argc < 5) return usage();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
    if (::inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return usage();
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      std::perror("connect");
      return 1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char buf[1000];
    std::memset(buf, 'k', sizeof(buf));
    for (long left = std::atol(argv[4]); left > 0;) {
      const ssize_t n = ::send(fd, buf, std::min<long>(left, sizeof(buf)), MSG_NOSIGNAL);
      if (n <= 0) {
        std::perror("send");
        return 1;
      }
      left -= n;
    }
    ::shutdown(fd, SHUT_WR);
    while (::read(fd, buf, sizeof(buf)) > 0) {
    }
    ::close(fd);
  } else if (mode == "sleep") {
    std::this_thread::sleep_for(std::chrono::duration<double>(std::atof(argv[2])));
  } else {
    return usage();
  }
  return 0;
}
