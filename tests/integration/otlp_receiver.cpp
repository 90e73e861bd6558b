#include "otlp_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ksight::test {

namespace {

std::string inflate_gzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return {};
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int r;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    r = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
  } while (r == Z_OK);
  inflateEnd(&zs);
  return r == Z_STREAM_END ? out : std::string("<bad gzip>");
}

}  // namespace

OtlpReceiver::OtlpReceiver(int port, Mode mode) : mode_(mode) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // A receiver restarted on the same port (the outage test) must not trip over
  // the previous one's closing connections.
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("receiver cannot listen on port " + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  thread_ = std::thread([this] { serve(); });
}

OtlpReceiver::~OtlpReceiver() {
  stop_ = true;
  thread_.join();
  for (auto& t : handlers_) t.join();
  ::close(listen_fd_);
  for (int fd : parked_) ::close(fd);
}

void OtlpReceiver::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    // A thread per connection, as a real collector would: one slow client
    // must not hold up the others.
    if (fd >= 0) handlers_.emplace_back([this, fd] { handle(fd); });
  }
}

void OtlpReceiver::handle(int fd) {
  if (mode_ == Mode::down) {
    ::close(fd);
    return;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string data;
  char buf[65536];
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  Request req;
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      ::close(fd);
      return;
    }
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos &&
        (header_end = data.find("\r\n\r\n")) != std::string::npos) {
      std::string head = data.substr(0, header_end);
      size_t line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      req.path = request_line.substr(request_line.find(' ') + 1);
      req.path = req.path.substr(0, req.path.find(' '));
      size_t pos = line_end + 2;
      while (pos < head.size()) {
        size_t e = head.find("\r\n", pos);
        if (e == std::string::npos) e = head.size();
        std::string line = head.substr(pos, e - pos);
        auto colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(), ::tolower);
          std::string value = line.substr(colon + 1);
          value.erase(0, value.find_first_not_of(' '));
          req.headers[name] = value;
        }
        pos = e + 2;
      }
      content_length =
          std::stoul(req.headers.count("content-length") ? req.headers["content-length"] : "0");
    }
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
  }
  req.body = data.substr(header_end + 4, content_length);
  if (req.headers["content-encoding"] == "gzip") req.body = inflate_gzip(req.body);
  Mode mode = mode_;
  if (mode == Mode::silent) {
    std::lock_guard lock(mu_);
    parked_.push_back(fd);  // never answered; closed when the receiver goes
    return;
  }
  std::string resp =
      mode == Mode::ok
          ? "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: close\r\n\r\n{}"
          : "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n";
  ::send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
  ::close(fd);
  if (mode == Mode::ok) {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(req));
  }
}

std::vector<OtlpReceiver::Request> OtlpReceiver::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void OtlpReceiver::dump(const std::string& path, const std::string& file) const {
  std::ofstream out(file);
  for (const auto& r : requests())
    if (r.path == path) out << r.body << "\n";
}

}  // namespace ksight::test
