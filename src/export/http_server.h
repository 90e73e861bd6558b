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
#include <string>
#include <vector>

#include "core/registry.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace ksight::exporters {

struct HttpOptions {
  std::string listen;         // ADDRESS:PORT; port 0 picks a free one
  std::string tls_cert_file;  // PEM; TLS when set (with tls_key_file)
  std::string tls_key_file;
  // user -> bcrypt hash ($2y$/$2b$), as in Prometheus' web config. Empty: no auth.
  std::map<std::string, std::string> basic_auth_users;
};

struct Readiness {
  bool ready = false;
  std::string detail;  // what is not ready, one line per problem
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
  uint64_t scrapes() const;

 private:
  friend struct HttpServerCallbacks;
  // Answers one request (on a server thread); returns an MHD_Result.
  int respond(MHD_Connection* conn, const char* url, const char* method, size_t* upload_size);
  bool authorized(MHD_Connection* conn) const;

  core::Registry& reg_;
  std::function<Readiness()> readiness_;
  std::map<std::string, std::string> users_;
  std::string tls_key_, tls_cert_;  // PEM text; must outlive the daemon
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<uint64_t> scrapes_{0};
};

// Checks `password` against a crypt(3) hash (bcrypt "$2y$..." and friends).
bool check_password(const std::string& password, const std::string& hash);

}  // namespace ksight::exporters
