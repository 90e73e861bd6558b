#pragma once
// Network namespaces, veth pairs, nftables tables and sockets for the
// network tests: made by each test, removed by RAII guards even when the test
// fails, so nothing depends on the outside network.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "harness.h"
#include "runtime/cgroup.h"

namespace ksight::test {

using namespace std::chrono_literals;

// Runs a command that must succeed; the error names it and its stderr.
inline std::optional<std::string> must(const std::vector<std::string>& argv) {
  auto r = run(argv, 10s);
  if (r.code == 0) return std::nullopt;
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  return cmd + "failed (" + std::to_string(r.code) + "): " + r.err;
}

// A network namespace, deleted with everything in it (veth ends, nftables).
class NetNs {
 public:
  explicit NetNs(std::string name) : name_(std::move(name)) {
    error_ = must({"/usr/sbin/ip", "netns", "add", name_});
    if (!error_) error_ = must({"/usr/sbin/ip", "-n", name_, "link", "set", "lo", "up"});
  }
  ~NetNs() { run({"/usr/sbin/ip", "netns", "del", name_}); }
  NetNs(const NetNs&) = delete;
  const std::string& name() const { return name_; }
  const std::optional<std::string>& error() const { return error_; }

 private:
  std::string name_;
  std::optional<std::string> error_;
};

// A veth pair, one end in each namespace. Deleting either end deletes both;
// if a step failed half-way, the end may still sit in the root namespace.
class Veth {
 public:
  Veth(const NetNs& a, const NetNs& b, const std::string& a_end, const std::string& b_end)
      : a_end_(a_end) {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"/usr/sbin/ip", "link", "add", a_end, "type", "veth", "peer", "name", b_end},
             {"/usr/sbin/ip", "link", "set", a_end, "netns", a.name()},
             {"/usr/sbin/ip", "link", "set", b_end, "netns", b.name()},
         }) {
      if ((error_ = must(argv))) return;
    }
    a_ns_ = a.name();
  }
  ~Veth() {
    if (a_ns_.empty())
      run({"/usr/sbin/ip", "link", "del", a_end_});
    else
      run({"/usr/sbin/ip", "-n", a_ns_, "link", "del", a_end_});
  }
  Veth(const Veth&) = delete;
  const std::optional<std::string>& error() const { return error_; }

 private:
  std::string a_end_, a_ns_;
  std::optional<std::string> error_;
};

// An nftables table inside a namespace, deleted on destruction.
class NftTable {
 public:
  NftTable(std::string ns, std::string table) : ns_(std::move(ns)), table_(std::move(table)) {}
  ~NftTable() {
    run({"/usr/sbin/ip", "netns", "exec", ns_, "/usr/sbin/nft", "delete", "table", "inet", table_});
  }
  NftTable(const NftTable&) = delete;
  std::optional<std::string> add(std::vector<std::string> words) {
    std::vector<std::string> argv{"/usr/sbin/ip", "netns", "exec", ns_, "/usr/sbin/nft"};
    argv.insert(argv.end(), words.begin(), words.end());
    return must(argv);
  }

 private:
  std::string ns_, table_;
};

// Client namespace and server namespace, 10.<a>.<b>.1 <-> .2 and
// fd00:<a>:<b>::1 <-> ::2 over one veth pair; names unique to this process.
class TestNet {
 public:
  TestNet()
      : tag_(std::to_string(::getpid() % 100000)),
        client_("ksnc" + tag_),
        server_("ksns" + tag_),
        veth_(client_, server_, "ksvc" + tag_, "ksvs" + tag_) {
    int a = 200 + static_cast<int>(::getpid() % 50), b = static_cast<int>((::getpid() / 50) % 250);
    std::string net4 = "10." + std::to_string(a) + "." + std::to_string(b) + ".";
    std::string net6 = "fd00:" + std::to_string(a) + ":" + std::to_string(b) + "::";
    client4 = net4 + "1";
    server4 = net4 + "2";
    client6 = net6 + "1";
    server6 = net6 + "2";
    error_ = client_.error() ? client_.error() : server_.error() ? server_.error() : veth_.error();
    if (error_) return;
    for (const auto& [ns, dev, v4, v6] :
         {std::tuple{client_.name(), "ksvc" + tag_, client4, client6},
          std::tuple{server_.name(), "ksvs" + tag_, server4, server6}}) {
      for (const auto& argv : std::vector<std::vector<std::string>>{
               {"/usr/sbin/ip", "-n", ns, "addr", "add", v4 + "/24", "dev", dev},
               {"/usr/sbin/ip", "-n", ns, "addr", "add", v6 + "/64", "dev", dev, "nodad"},
               {"/usr/sbin/ip", "-n", ns, "link", "set", dev, "up"},
           }) {
        if ((error_ = must(argv))) return;
      }
    }
  }
  const std::optional<std::string>& error() const { return error_; }
  const std::string& client_ns() const { return client_.name(); }
  const std::string& server_ns() const { return server_.name(); }
  std::string client4, server4, client6, server6;

 private:
  std::string tag_;
  NetNs client_, server_;  // declared before the veth: deleted after it
  Veth veth_;
  std::optional<std::string> error_;
};

#define REQUIRE_NET(net)                                       \
  do {                                                         \
    KSIGHT_REQUIRE_BPF();                                      \
    ASSERT_FALSE((net).error().has_value()) << *(net).error(); \
  } while (0)

// A socket created inside namespace `ns`: a socket stays in the namespace it
// was created in, so the rest (bind, connect, I/O) can happen on any thread.
// setns(CLONE_NEWNET) moves only the calling thread, hence the short-lived one.
inline int socket_in(const std::string& ns, int family, int type) {
  int fd = -1;
  std::thread t([&] {
    int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd >= 0 && ::setns(nsfd, CLONE_NEWNET) == 0)
      fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (nsfd >= 0) ::close(nsfd);
  });
  t.join();
  return fd;
}

class Sock {
 public:
  explicit Sock(int fd = -1) : fd_(fd) {}
  ~Sock() {
    if (fd_ >= 0) ::close(fd_);
  }
  Sock(Sock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Sock& operator=(Sock&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// sockaddr for "10.x.y.z" or "fd00::2" and a port.
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  Addr(const std::string& ip, int port) {
    if (ip.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
      len = sizeof(*a);
      family = AF_INET6;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
      len = sizeof(*a);
    }
  }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

inline int local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                  : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

inline Sock listener(const std::string& ns, const std::string& ip, int port) {
  Addr a(ip, port);
  Sock s(socket_in(ns, a.family, SOCK_STREAM));
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(s.get(), a.sa(), a.len) != 0 || ::listen(s.get(), 128) != 0) s.close();
  return s;
}

inline Sock connect_to(const std::string& ns, const std::string& ip, int port) {
  Addr a(ip, port);
  Sock s(socket_in(ns, a.family, SOCK_STREAM));
  timeval tv{5, 0};
  ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (::connect(s.get(), a.sa(), a.len) != 0) s.close();
  return s;
}

inline bool send_all(int fd, size_t bytes) {
  std::vector<char> buf(std::min<size_t>(bytes, 16384), 'k');
  while (bytes > 0) {
    ssize_t n = ::send(fd, buf.data(), std::min(bytes, buf.size()), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

inline size_t recv_all(int fd, size_t bytes) {
  std::vector<char> buf(16384);
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

// Runs `work` in a forked child placed in `cg` before it starts; returns its
// exit code (or -1 on time-out, after killing it).
inline int run_in_cgroup(const runtime::ScopedCgroup& cg, const std::function<int()>& work) {
  int go[2];
  if (::pipe(go) != 0) return -1;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(go[1]);
    char c;
    if (::read(go[0], &c, 1) != 1) ::_exit(100);
    ::_exit(work());
  }
  ::close(go[0]);
  bool placed = cg.add(pid).has_value();
  char c = placed ? 'g' : 'x';
  if (!placed) ::kill(pid, SIGKILL);
  (void)!::write(go[1], &c, 1);
  ::close(go[1]);
  for (int i = 0; i < 1000; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      if (!placed) return -2;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(20ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return -1;
}

}  // namespace ksight::test
