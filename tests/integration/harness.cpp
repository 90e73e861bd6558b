#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include "support/time_scale.h"

namespace ksight::test {

std::optional<std::string> bpf_unavailable_reason() {
  if (::geteuid() != 0)
    return "needs root (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) to load BPF programs";
  if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return "kernel has no BTF (/sys/kernel/btf/vmlinux)";
  return std::nullopt;
}

bool bpf_required() {
  const char* v = std::getenv("KSIGHT_REQUIRE_BPF");
  return v && std::string(v) == "1";
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/ksight-test-XXXXXX";
  path_ = ::mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const std::string& out,
                             const std::string& err) {
  if (!out.empty()) {
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::close(fd);
  }
  if (!err.empty()) {
    int fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 2);
    ::close(fd);
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  ::dup2(devnull, 0);
  exec_argv(argv);
}
}  // namespace

PipedChild::PipedChild(const std::vector<std::string>& argv, const std::string& err_path) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(p[1], STDOUT_FILENO);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, STDERR_FILENO);
    exec_argv(argv);
  }
  ::close(p[1]);
  read_fd_ = p[0];
}

PipedChild::~PipedChild() {
  close_read_end();
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void PipedChild::close_read_end() {
  if (read_fd_ >= 0) ::close(read_fd_);
  read_fd_ = -1;
}

bool PipedChild::readable(std::chrono::milliseconds timeout) const {
  pollfd p{read_fd_, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 && (p.revents & POLLIN);
}

std::optional<int> PipedChild::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!status_) {
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void exec_argv(const std::vector<std::string>& argv) {
  // Signals blocked in the test process must not stay blocked in the child.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

Child::Child(const std::vector<std::string>& argv, const std::string& stdout_path,
             const std::string& stderr_path) {
  pid_ = ::fork();
  if (pid_ == 0) exec_child(argv, stdout_path, stderr_path);
}

Child::~Child() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void Child::signal(int sig) const {
  if (pid_ > 0 && !exited_) ::kill(pid_, sig);
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (!exited_) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return 128 + WTERMSIG(status_);
}

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  TempDir dir;
  RunResult r;
  {
    Child c(argv, dir.file("out"), dir.file("err"));
    auto code = c.wait(timeout);
    r.code = code ? *code : -1;
  }
  r.out = read_file(dir.file("out"));
  r.err = read_file(dir.file("err"));
  return r;
}

void spawn_n(const std::string& path, const std::vector<std::string>& args, int n) {
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  for (int i = 0; i < n; ++i) {
    Child c(argv, "", "");
    ASSERT_TRUE(c.wait(std::chrono::seconds(10)).has_value()) << path << " hung";
  }
}

std::string unique_copy(const std::string& src, const TempDir& dir, const std::string& prefix) {
  // comm keeps 15 characters: prefix + pid stays well inside.
  std::string name = prefix + std::to_string(::getpid() % 100000);
  std::string dst = dir.file(name);
  std::filesystem::copy_file(src, dst, std::filesystem::copy_options::overwrite_existing);
  ::chmod(dst.c_str(), 0755);
  return dst;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int free_port_outside_ephemeral_range() {
  int low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low;
  for (int port = low - 1000 - static_cast<int>(::getpid() % 4000); port > 1024; --port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    if (ok) return port;
  }
  return free_port();
}

std::optional<std::string> http_get(int port, const std::string& path, int* status,
                                    std::string* headers) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{static_cast<time_t>(5 * time_scale()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  auto split = resp.find("\r\n\r\n");
  if (split == std::string::npos) return std::nullopt;
  if (status) *status = std::atoi(resp.c_str() + resp.find(' ') + 1);
  if (headers) *headers = resp.substr(0, split);
  return resp.substr(split + 4);
}

std::optional<double> metric(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

double metric_sum(const std::string& exposition, const std::string& family,
                  const std::vector<std::string>& labels) {
  std::istringstream in(exposition);
  double sum = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(family + "{") && !line.starts_with(family + " ")) continue;
    bool match = true;
    for (const auto& l : labels) match = match && line.find(l) != std::string::npos;
    if (match) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + scaled(timeout);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

std::vector<std::string> loaded_bpf_programs() {
  auto r = run({"/usr/sbin/bpftool", "-j", "prog", "show"});
  std::vector<std::string> names;
  if (r.code != 0) return names;
  for (const auto& p : nlohmann::json::parse(r.out)) {
    if (p.contains("name")) names.push_back(p["name"]);
  }
  return names;
}

Daemon::Daemon(const TempDir& dir, std::vector<std::string> extra, bool outputs)
    : port_(free_port()) {
  otlp_ = dir.file("otlp.json");
  events_ = dir.file("events.json");
  std::vector<std::string> argv{ksight_binary(), "run", "--listen",
                                "127.0.0.1:" + std::to_string(port_)};
  if (outputs) {
    for (const auto& a :
         {"--otlp-file", otlp_.c_str(), "--otlp-interval", "1s", "--events-file", events_.c_str()})
      argv.push_back(a);
  }
  // Tests compare scrapes taken a moment apart: each must be fresh, not the
  // shared render of web.min_scrape_interval (tests of that sharing set it).
  if (std::find(extra.begin(), extra.end(), "--min-scrape-interval") == extra.end())
    for (const auto& a : {"--min-scrape-interval", "0s"}) argv.push_back(a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  log_ = dir.file("daemon.log");
  child_ = std::make_unique<Child>(argv, dir.file("daemon.out"), log_);
}

bool Daemon::wait_ready(const std::vector<std::string>& probes) {
  return eventually(
      [&] {
        if (child_->exited()) return false;
        auto body = http_get(port_, "/metrics");
        if (!body) return false;
        for (const auto& p : probes)
          if (body->find("ksight_probe_up{probe=\"" + p + "\"") == std::string::npos) return false;
        return true;
      },
      std::chrono::seconds(15));
}

std::string Daemon::scrape() {
  return http_get(port_, "/metrics").value_or("");
}

std::optional<int> Daemon::stop(int sig) {
  child_->signal(sig);
  return child_->wait(std::chrono::seconds(15));
}

}  // namespace ksight::test
