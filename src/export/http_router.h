#pragma once
// What the HTTP endpoint answers, without a socket: the server (http_server.h)
// hands each request's method, path and Authorization header here and sends
// back what comes out. Kept apart so unit tests and the fuzzer can drive it
// with bytes.
//
// Two defences against clients that ask too often live here:
//  - /metrics renders at most one snapshot per `min_scrape_interval`; scrapes
//    that arrive meanwhile (or while one is rendering) share that body, so N
//    concurrent scrapers cost one collect, not N. Scrapers that accept gzip
//    (Prometheus does) share one compressed copy of that body as well.
//  - basic-auth verdicts are cached per presented credential (by its SHA-256,
//    bounded), so a client repeating a credential costs one bcrypt, not one
//    per request; bcrypt itself runs one at a time.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/registry.h"

namespace ksight::exporters {

struct Readiness {
  bool ready = false;
  std::string detail;  // what is not ready, one line per problem
  // /healthz: the agent's own threads are alive (the reader and dispatcher
  // beat their heartbeats), whatever the probes do. false restarts the pod.
  bool live = true;
  std::string live_detail;
};

struct HttpRequest {
  std::string_view method;
  std::string_view path;
  std::string_view authorization;    // the Authorization header; empty when absent
  std::string_view accept_encoding;  // the Accept-Encoding header; empty when absent
};

// Whether an Accept-Encoding header ("gzip, deflate", "gzip;q=0.5") accepts
// gzip: listed (or "*"), with a nonzero q.
bool accepts_gzip(std::string_view accept_encoding);

struct HttpResponse {
  unsigned status = 200;
  std::string_view content_type;
  std::shared_ptr<const std::string> body;
  bool auth_challenge = false;  // add WWW-Authenticate: Basic realm="ksight"
  // Extra headers (e.g. Content-Disposition), name and value.
  std::vector<std::pair<std::string, std::string>> headers;
  // Work that takes a while (a profile taken over N seconds): when set, the
  // server runs it off its own threads, with the connection suspended, and
  // sends what it returns instead of this response.
  std::function<HttpResponse()> deferred;
};

// GET /debug/pprof/profile?seconds=N[&pid=P][&pod=NAME][&namespace=NS]: a CPU
// profile of the node in pprof's format, as Go programs serve theirs.
struct ProfileQuery {
  uint32_t seconds = 30;  // Go's default
  uint32_t pid = 0;       // 0: every process
  std::string pod;        // empty: every pod
  std::string ns;
};
// Answers a profile request: at once when it cannot be taken (busy, off), or
// with `deferred` work that takes `seconds`.
using ProfileHandler = std::function<HttpResponse(const ProfileQuery&)>;
constexpr uint32_t kMaxProfileSeconds = 300;

// The query of `path` ("a=1&b=x%20y" after '?'), percent-decoded; nullopt when
// malformed. Keys repeat: the last one wins.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view path);

// "Basic dXNlcjpwYXNz" -> {"user", "pass"}; nullopt when it is not basic auth
// or not valid base64 with a colon.
std::optional<std::pair<std::string, std::string>> parse_basic_auth(std::string_view header);

// Checks `password` against a crypt(3) hash (bcrypt "$2y$..." and friends).
bool check_password(const std::string& password, const std::string& hash);

// Verdicts of user/password checks, keyed by the SHA-256 of the presented
// credential (never the password itself). Bounded: when full it starts over.
class AuthCache {
 public:
  using Check = std::function<bool(const std::string& password, const std::string& hash)>;
  AuthCache(std::map<std::string, std::string> users, size_t capacity = 1024,
            Check check = check_password);
  bool enabled() const { return !users_.empty(); }
  bool allowed(const std::string& user, const std::string& password);
  uint64_t checks() const;  // bcrypt runs so far (cache misses)

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    size_t operator()(const Digest& d) const;
  };
  std::map<std::string, std::string> users_;
  size_t capacity_;
  Check check_;
  mutable std::mutex mu_;
  std::unordered_map<Digest, bool, DigestHash> verdicts_;
  std::mutex check_mu_;  // one bcrypt at a time: a flood of fresh guesses uses one core
  uint64_t checks_ = 0;
};

class HttpRouter {
 public:
  using Clock = std::function<uint64_t()>;
  HttpRouter(core::Registry& reg, std::function<Readiness()> readiness,
             std::map<std::string, std::string> users, uint64_t min_scrape_interval_ns,
             Clock clock = {}, AuthCache::Check check = check_password);

  HttpResponse handle(const HttpRequest& req);
  // Serves /debug/pprof/profile with `handler`; unset, the path is 404.
  // Set before the server starts.
  void set_profile_handler(ProfileHandler handler) { profile_handler_ = std::move(handler); }

  uint64_t scrapes() const;   // /metrics requests answered with metrics
  uint64_t collects() const;  // snapshots actually rendered

 private:
  struct MetricsBody {
    std::shared_ptr<const std::string> plain;
    std::shared_ptr<const std::string> gzip;  // null until a scraper asks for it
  };
  // The body of the current interval; its gzip copy made first when `gzip`.
  MetricsBody metrics_body(bool gzip);
  HttpResponse profile(std::string_view path);
  std::optional<HttpResponse> refuse_unauthorized(std::string_view authorization);

  core::Registry& reg_;
  std::function<Readiness()> readiness_;
  AuthCache auth_;
  uint64_t min_interval_ns_;
  Clock clock_;
  core::FamilyId collects_family_;
  ProfileHandler profile_handler_;

  mutable std::mutex scrape_mu_;  // held while rendering: concurrent scrapes wait and share
  MetricsBody body_;
  uint64_t body_at_ns_ = 0;
  size_t last_body_size_ = 0;  // what the next render reserves
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<uint64_t> collects_{0};
};

}  // namespace ksight::exporters
