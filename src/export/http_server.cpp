#include "export/http_server.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/clock.h"
#include "export/prometheus.h"

namespace ksight::exporters {

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

MHD_Result reply(MHD_Connection* conn, unsigned status, const char* content_type,
                 const std::string& body) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

// "127.0.0.1:9437", "0.0.0.0:9437", "[::1]:9437", ":9437".
bool parse_listen(const std::string& listen, sockaddr_storage& out) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  int port = std::atoi(listen.c_str() + colon + 1);
  if (port < 0 || port > 65535) return false;
  std::memset(&out, 0, sizeof(out));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&out);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    return inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) == 1;
  }
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  a4->sin_family = AF_INET;
  a4->sin_port = htons(static_cast<uint16_t>(port));
  if (host.empty()) host = "0.0.0.0";
  return inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1;
}

}  // namespace

// libmicrohttpd's C callback, handing the request to the server object.
struct HttpServerCallbacks {
  static MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                               const char*, const char*, size_t* upload_size, void**) {
    return static_cast<MHD_Result>(
        static_cast<HttpServer*>(cls)->respond(conn, url, method, upload_size));
  }
};

bool check_password(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  // Compare in constant time: the length is public, the content is not.
  if (!out || out[0] == '*' || std::strlen(out) != hash.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < hash.size(); ++i) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
  return diff == 0;
}

HttpServer::HttpServer(const HttpOptions& opts, core::Registry& reg,
                       std::function<Readiness()> readiness)
    : reg_(reg), readiness_(std::move(readiness)), users_(opts.basic_auth_users) {
  sockaddr_storage addr{};
  if (!parse_listen(opts.listen, addr))
    throw std::runtime_error("cannot serve /metrics on " + opts.listen + ": expected ADDRESS:PORT");
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    if (opts.tls_cert_file.empty() || opts.tls_key_file.empty())
      throw std::runtime_error("TLS needs both web.tls_cert_file and web.tls_key_file");
    tls_cert_ = read_all(opts.tls_cert_file);
    tls_key_ = read_all(opts.tls_key_file);
    flags |= MHD_USE_TLS;
    tls_ = true;
  }
  MHD_AccessHandlerCallback handler = &HttpServerCallbacks::on_request;
  if (tls_) {
    daemon_ =
        MHD_start_daemon(flags, 0, nullptr, nullptr, handler, this, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_HTTPS_MEM_KEY, tls_key_.c_str(), MHD_OPTION_HTTPS_MEM_CERT,
                         tls_cert_.c_str(), MHD_OPTION_END);
  } else {
    daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, handler, this, MHD_OPTION_SOCK_ADDR,
                               &addr, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                               MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  }
  if (!daemon_) {
    int err = errno;
    throw std::runtime_error("cannot serve /metrics on " + opts.listen + ": " +
                             (err ? std::strerror(err) : "the HTTP server did not start") +
                             (tls_ ? " (check the TLS certificate and key)" : ""));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  port_ = info ? info->port : 0;
}

HttpServer::~HttpServer() {
  if (daemon_) MHD_stop_daemon(daemon_);
}

uint64_t HttpServer::scrapes() const {
  return scrapes_.load();
}

bool HttpServer::authorized(MHD_Connection* conn) const {
  if (users_.empty()) return true;
  char* pass = nullptr;
  char* user = MHD_basic_auth_get_username_password(conn, &pass);
  bool ok = false;
  if (user && pass) {
    auto it = users_.find(user);
    ok = it != users_.end() && check_password(pass, it->second);
  }
  MHD_free(user);
  MHD_free(pass);
  return ok;
}

int HttpServer::respond(MHD_Connection* conn, const char* url, const char* method,
                        size_t* upload_size) {
  HttpServer* self = this;
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
    if (*upload_size) *upload_size = 0;
    return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", "GET only\n");
  }
  std::string_view path(url);
  if (path == "/metrics") {
    if (!self->authorized(conn)) {
      const std::string body = "Unauthorized\n";
      MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                        MHD_RESPMEM_MUST_COPY);
      MHD_Result ok = MHD_queue_basic_auth_fail_response(conn, "ksight", r);
      MHD_destroy_response(r);
      return ok;
    }
    self->scrapes_.fetch_add(1);
    return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                 prometheus_text(self->reg_.collect(core::mono_ns())));
  }
  if (path == "/healthz") return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n");
  if (path == "/readyz") {
    Readiness r = self->readiness_ ? self->readiness_() : Readiness{true, {}};
    if (r.ready) return reply(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", "ready\n");
    return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                 "not ready\n" + r.detail);
  }
  return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
               "not found: try /metrics, /healthz or /readyz\n");
}

}  // namespace ksight::exporters
