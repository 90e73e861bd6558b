#include "support/fake_apiserver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <stdexcept>

namespace ksight::test {

namespace {

constexpr size_t kMaxRequestHead = 64 << 10;
constexpr int kPollMs = 50;

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 410:
      return "Gone";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

const char* status_reason(int status) {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 410:
      return "Expired";
    case 503:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

bool send_response(int fd, int status, const std::string& body) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                     "\r\nContent-Type: application/json\r\nCache-Control: no-cache, private"
                     "\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  return send_all(fd, head + body);
}

}  // namespace

bool FakeRequest::is_watch() const {
  auto w = param("watch");
  return w == "1" || w == "true";
}

std::string FakeRequest::param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? "" : it->second;
}

bool FakeApiServer::Selector::matches(const std::string& pod_ns,
                                      const std::string& pod_node) const {
  return (ns.empty() || ns == pod_ns) && (node.empty() || node == pod_node);
}

FakeApiServer::FakeApiServer(Options opts) : opts_(std::move(opts)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("fake API server: cannot listen on 127.0.0.1");
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  cv_.notify_all();
  accept_thread_.join();
  for (auto& c : connections_) c.thread.join();
  ::close(listen_fd_);
}

std::string FakeApiServer::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void FakeApiServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        ::close(fd);
        break;
      }
      fds_.insert(fd);
    }
    connections_.remove_if([](Connection& c) {
      if (!c.done) return false;
      c.thread.join();
      return true;
    });
    auto& conn = connections_.emplace_back();
    conn.thread = std::thread([this, fd, &conn] {
      serve(fd);
      {
        std::lock_guard lock(mu_);
        fds_.erase(fd);
        ::close(fd);
      }
      conn.done = true;
    });
  }
}

void FakeApiServer::serve(int fd) {
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    if (stop_ || head.size() > kMaxRequestHead) return;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kPollMs) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    head.append(buf, static_cast<size_t>(n));
  }
  FakeRequest req;
  size_t line_end = head.find("\r\n");
  std::string line = head.substr(0, line_end);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string::npos || sp2 <= sp1) return;
  req.method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = target.find('?');
  req.path = percent_decode(target.substr(0, q));
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(target).substr(q + 1);
    while (!rest.empty()) {
      std::string_view item = rest.substr(0, rest.find('&'));
      rest.remove_prefix(std::min(rest.size(), item.size() + 1));
      size_t eq = item.find('=');
      req.query[percent_decode(item.substr(0, eq))] =
          eq == std::string_view::npos ? "" : percent_decode(item.substr(eq + 1));
    }
  }
  for (size_t pos = line_end + 2; pos < head.size();) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    std::string h = head.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = h.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t v = h.find_first_not_of(' ', colon + 1);
    req.headers[name] = v == std::string::npos ? "" : h.substr(v);
  }
  answer(fd, req);
}

size_t FakeApiServer::record(const FakeRequest& req) {
  std::lock_guard lock(mu_);
  requests_.push_back(req);
  return requests_.size() - 1;
}

void FakeApiServer::set_status(size_t index, int status) {
  std::lock_guard lock(mu_);
  requests_[index].status = status;
}

void FakeApiServer::answer(int fd, FakeRequest& req) {
  const size_t index = record(req);
  auto reply = [&](int status, const std::string& body) {
    set_status(index, status);
    send_response(fd, status, body);
  };
  auto error = [&](int status, const std::string& message) {
    reply(status, fake_json::status(status, status_reason(status), message));
  };
  if (!opts_.token.empty()) {
    auto it = req.headers.find("authorization");
    if (it == req.headers.end() || it->second != "Bearer " + opts_.token)
      return error(401, "Unauthorized");
  }
  if (req.method != "GET") return error(405, "the fake serves GET only");
  if (auto doc = fake_json::discovery(req.path, port_); !doc.empty()) return reply(200, doc);

  // /api/v1/pods, /api/v1/namespaces/<ns>/pods
  Selector sel;
  const std::string ns_prefix = "/api/v1/namespaces/";
  if (req.path.starts_with(ns_prefix) && req.path.ends_with("/pods")) {
    sel.ns = req.path.substr(ns_prefix.size(),
                             req.path.size() - ns_prefix.size() - std::string("/pods").size());
  } else if (req.path != "/api/v1/pods") {
    return error(404, "the server could not find the requested resource");
  }
  if (auto fs = req.param("fieldSelector"); !fs.empty()) {
    for (const std::string prefix : {"spec.nodeName==", "spec.nodeName="}) {
      if (fs.starts_with(prefix)) {
        sel.node = fs.substr(prefix.size());
        break;
      }
    }
    if (sel.node.empty()) return error(400, "field label not supported by the fake: " + fs);
  }
  {
    std::lock_guard lock(mu_);
    if (fail_count_ != 0) {
      if (fail_count_ > 0) --fail_count_;
      const int status = fail_status_;
      requests_[index].status = status;
      return void(send_response(
          fd, status, fake_json::status(status, status_reason(status), "injected by the test")));
    }
  }
  if (req.is_watch()) return serve_watch(fd, index, req, sel);
  serve_list(fd, index, req, sel);
}

}  // namespace ksight::test
