#include "export/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/clock.h"
#include "core/text.h"

namespace ksight::exporters {

namespace {

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The client address without the port, the key of the per-client limit.
std::string client_key(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (!addr) return {};
  if (addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof(buf));
  else if (addr->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof(buf));
  return buf;
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

// A request whose answer is `deferred` work: it runs on a thread of its own
// while libmicrohttpd keeps the connection suspended, then resumes it.
struct HttpServer::Pending {
  std::thread worker;
  std::atomic<bool> done{false};
  HttpResponse result;
};

// libmicrohttpd's C callbacks, handing each event to the server object.
struct HttpServerCallbacks {
  static MHD_Result on_request(void* cls, MHD_Connection* conn, const char* url, const char* method,
                               const char*, const char*, size_t* upload_size, void** req_cls) {
    return static_cast<MHD_Result>(
        static_cast<HttpServer*>(cls)->respond(conn, url, method, upload_size, req_cls));
  }
  static void on_completed(void* cls, MHD_Connection*, void** req_cls, MHD_RequestTerminationCode) {
    static_cast<HttpServer*>(cls)->completed(req_cls);
  }
  // libmicrohttpd hands the query decoded; the router takes it encoded, as
  // in the request line, so a value holding '&' or '=' stays one value.
  static MHD_Result on_argument(void* cls, MHD_ValueKind, const char* key, const char* value) {
    auto* query = static_cast<std::string*>(cls);
    *query += query->empty() ? '?' : '&';
    *query += core::percent_encode(key ? key : "");
    // Appended, not `"=" + ...`: g++ 12 -O3 misreads that as an overlapping
    // copy (-Werror=restrict, GCC bug 105329).
    if (value) {
      query->push_back('=');
      query->append(core::percent_encode(value));
    }
    return MHD_YES;
  }
  static MHD_Result on_accept(void* cls, const sockaddr* addr, socklen_t) {
    return static_cast<HttpServer*>(cls)->admit(addr) ? MHD_YES : MHD_NO;
  }
  static void on_connection(void* cls, MHD_Connection* conn, void**,
                            MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<HttpServer*>(cls);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) self->opened(conn);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) self->closed(conn);
  }
};

HttpServer::HttpServer(const HttpOptions& opts, core::Registry& reg,
                       std::function<Readiness()> readiness)
    : router_(reg, std::move(readiness), opts.basic_auth_users, opts.min_scrape_interval_ns),
      max_connections_(opts.max_connections),
      // An eighth of the connections (at least one) for addresses that hold none.
      reserve_(std::max(1u, opts.max_connections / 8)),
      per_client_limit_(opts.max_connections_per_client),
      reg_(reg) {
  if (opts.max_connections == 0 || opts.max_connections_per_client == 0 || opts.threads == 0)
    throw std::runtime_error("the HTTP server needs at least one connection and one thread");
  refused_family_ =
      reg_.add({.name = "ksight_http_connections_refused_total",
                .help = "HTTP connections closed at once because a connection limit was reached.",
                .kind = core::MetricKind::counter,
                .label_names = {"reason"},
                .expires = false});
  sockaddr_storage addr{};
  if (!parse_listen(opts.listen, addr))
    throw std::runtime_error("cannot serve /metrics on " + opts.listen + ": expected ADDRESS:PORT");
  // Every worker thread polls its share of the connections with epoll, so a
  // slow client only ever holds a connection slot, never a thread.
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
  if (addr.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
    if (opts.tls_cert_file.empty() || opts.tls_key_file.empty())
      throw std::runtime_error("TLS needs both web.tls_cert_file and web.tls_key_file");
    tls_cert_ = read_all(opts.tls_cert_file);
    tls_key_ = read_all(opts.tls_key_file);
    flags |= MHD_USE_TLS;
    tls_ = true;
  }
  std::vector<MHD_OptionItem> options{
      {MHD_OPTION_SOCK_ADDR, 0, &addr},
      {MHD_OPTION_THREAD_POOL_SIZE, opts.threads, nullptr},
      // admit() enforces both limits exactly and counts what it refuses:
      // it accepts and closes at once. libmicrohttpd's own limits stay as a
      // backstop above them; when they are hit it stops accepting, and a
      // scraper would wait in the listen backlog behind the abusers. They are
      // checked before admit(), count a connection until its cleanup (later
      // than our closed()), and refuse without our counter: far enough above
      // ours that churning clients meet admit() first (a slow, sanitized
      // agent refused 770 of 2000 that way with the per-client backstop at
      // 16 + threads).
      {MHD_OPTION_CONNECTION_LIMIT, 2 * opts.max_connections + opts.threads, nullptr},
      {MHD_OPTION_PER_IP_CONNECTION_LIMIT, 4 * opts.max_connections_per_client + opts.threads,
       nullptr},
      // Bounds what one connection may buffer: the request line and headers
      // must fit, or the client gets 414/431 and the connection closes.
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(opts.max_request_size), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, opts.client_timeout_s, nullptr},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&HttpServerCallbacks::on_completed),
       this},
      {MHD_OPTION_NOTIFY_CONNECTION,
       reinterpret_cast<intptr_t>(&HttpServerCallbacks::on_connection), this},
  };
  if (tls_) {
    options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char*>(tls_key_.c_str())});
    options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char*>(tls_cert_.c_str())});
  }
  options.push_back({MHD_OPTION_END, 0, nullptr});
  daemon_ = MHD_start_daemon(flags, 0, &HttpServerCallbacks::on_accept, this,
                             &HttpServerCallbacks::on_request, this, MHD_OPTION_ARRAY,
                             options.data(), MHD_OPTION_END);
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
  // Deferred work first: it resumes its connection when done, which the
  // daemon must still be running for.
  std::vector<std::thread> workers;
  {
    std::lock_guard lk(pending_mu_);
    stopping_ = true;
    for (auto* p : pending_)
      if (p->worker.joinable()) workers.push_back(std::move(p->worker));
  }
  for (auto& w : workers) w.join();
  if (daemon_) MHD_stop_daemon(daemon_);
}

void HttpServer::completed(void** req_cls) {
  auto* p = static_cast<Pending*>(*req_cls);
  if (!p) return;
  *req_cls = nullptr;
  {
    std::lock_guard lk(pending_mu_);
    pending_.erase(p);
  }
  if (p->worker.joinable()) p->worker.join();
  delete p;
}

bool HttpServer::admit(const sockaddr* addr) {
  std::string key = client_key(addr);
  std::string_view reason;
  {
    std::lock_guard lk(conn_mu_);
    auto it = per_client_.find(key);
    unsigned mine = it == per_client_.end() ? 0 : it->second;
    if (mine >= per_client_limit_)
      reason = "per_client";
    else if (open_ >= max_connections_)
      reason = "total";
    else if (mine > 0 && open_ + reserve_ >= max_connections_)
      reason = "reserve";
    else
      return true;
  }
  reg_.write(core::mono_ns()).add(refused_family_, {reason}, 1);
  return false;
}

void HttpServer::opened(MHD_Connection* conn) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  std::lock_guard lk(conn_mu_);
  ++open_;
  ++per_client_[client_key(info ? info->client_addr : nullptr)];
}

void HttpServer::closed(MHD_Connection* conn) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  std::lock_guard lk(conn_mu_);
  if (open_ > 0) --open_;
  auto it = per_client_.find(client_key(info ? info->client_addr : nullptr));
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

int HttpServer::respond(MHD_Connection* conn, const char* url, const char* method,
                        size_t* upload_size, void** req_cls) {
  if (*upload_size) *upload_size = 0;  // no endpoint takes a body; the answer is 405
  if (auto* p = static_cast<Pending*>(*req_cls)) {
    // Called again after resume_connection: the deferred work is done.
    if (!p->done.load()) return MHD_YES;
    return send(conn, p->result);
  }
  const char* auth =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  const char* accept_encoding =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
  std::string path = url ? url : "";
  std::string query;
  MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &HttpServerCallbacks::on_argument, &query);
  HttpResponse res = router_.handle({.method = method ? method : "",
                                     .path = path + query,
                                     .authorization = auth ? auth : "",
                                     .accept_encoding = accept_encoding ? accept_encoding : ""});
  if (res.deferred) {
    auto* p = new Pending;
    {
      std::lock_guard lk(pending_mu_);
      if (stopping_) {
        delete p;
        return MHD_NO;
      }
      pending_.insert(p);
    }
    *req_cls = p;
    MHD_suspend_connection(conn);
    p->worker = std::thread([p, conn, work = std::move(res.deferred)] {
      p->result = work();
      p->done.store(true);
      MHD_resume_connection(conn);
    });
    return MHD_YES;
  }
  return send(conn, res);
}

int HttpServer::send(MHD_Connection* conn, const HttpResponse& res) {
  MHD_Response* r = MHD_create_response_from_buffer(
      res.body->size(), const_cast<char*>(res.body->data()), MHD_RESPMEM_MUST_COPY);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, std::string(res.content_type).c_str());
  if (res.auth_challenge)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"ksight\"");
  for (const auto& [name, value] : res.headers)
    MHD_add_response_header(r, name.c_str(), value.c_str());
  MHD_Result ok = MHD_queue_response(conn, res.status, r);
  MHD_destroy_response(r);
  return ok;
}

}  // namespace ksight::exporters
