#pragma once
// The daemon's HTTP endpoint, on libmicrohttpd: /metrics (Prometheus text, from
// the registry at scrape time), /healthz (the process answers) and /readyz
// (every enabled probe attached, or which are not). Optional TLS and HTTP
// basic auth with bcrypt-hashed passwords, configured like Prometheus' own
// web config.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/registry.h"
#include "export/http_router.h"

struct MHD_Daemon;
struct MHD_Connection;
struct sockaddr;

namespace ksight::exporters {

struct HttpOptions {
  std::string listen;         // ADDRESS:PORT; port 0 picks a free one
  std::string tls_cert_file;  // PEM; TLS when set (with tls_key_file)
  std::string tls_key_file;
  // user -> bcrypt hash ($2y$/$2b$), as in Prometheus' web config. Empty: no auth.
  std::map<std::string, std::string> basic_auth_users;
  // Limits that keep slow or greedy clients from starving a scrape (see
  // docs/configuration.md, web.*).
  unsigned max_connections = 512;                   // in total
  unsigned max_connections_per_client = 16;         // per client address
  size_t max_request_size = 16 * 1024;              // request line + headers, per connection
  unsigned client_timeout_s = 10;                   // idle connections close after this
  unsigned threads = 4;                             // worker threads (epoll each)
  uint64_t min_scrape_interval_ns = 1'000'000'000;  // one collect per interval at most
};

class HttpServer {
 public:
  // Throws std::runtime_error with a one-line message when it cannot start.
  HttpServer(const HttpOptions& opts, core::Registry& reg, std::function<Readiness()> readiness);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  bool tls() const { return tls_; }
  uint64_t scrapes() const { return router_.scrapes(); }
  uint64_t collects() const { return router_.collects(); }
  // Serves /debug/pprof/profile (see ProfileQuery); call before requests come.
  void set_profile_handler(ProfileHandler handler) {
    router_.set_profile_handler(std::move(handler));
  }

 private:
  friend struct HttpServerCallbacks;
  // Answers one request (on a server thread); returns an MHD_Result.
  int respond(MHD_Connection* conn, const char* url, const char* method, size_t* upload_size,
              void** req_cls);
  int send(MHD_Connection* conn, const HttpResponse& res);
  // A request is over (answered, or its client gone): frees deferred work.
  void completed(void** req_cls);
  // Admission beyond libmicrohttpd's own limits (the reserve, below).
  bool admit(const sockaddr* addr);
  void opened(MHD_Connection* conn);
  void closed(MHD_Connection* conn);

  HttpRouter router_;
  struct Pending;
  std::mutex pending_mu_;
  std::set<Pending*> pending_;
  bool stopping_ = false;
  std::string tls_key_, tls_cert_;  // PEM text; must outlive the daemon
  // Open connections, in total and per client address. Once the total is
  // within `reserve_` of the limit, only addresses holding no connection get
  // in: clients that hog connections from many addresses still leave room for
  // a scraper.
  std::mutex conn_mu_;
  std::map<std::string, unsigned> per_client_;
  unsigned open_ = 0;
  unsigned max_connections_ = 0;
  unsigned reserve_ = 0;
  unsigned per_client_limit_ = 0;
  core::FamilyId refused_family_ = 0;
  core::Registry& reg_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  bool tls_ = false;
};

}  // namespace ksight::exporters
