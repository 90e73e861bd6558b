#include "export/http_router.h"

#include <crypt.h>
#include <openssl/evp.h>

#include <cstring>
#include <exception>

#include "core/clock.h"
#include "export/otlp_http.h"
#include "export/prometheus.h"

namespace ksight::exporters {

namespace {

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";
constexpr std::string_view kExposition = "text/plain; version=0.0.4; charset=utf-8";

std::shared_ptr<const std::string> text(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::optional<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = base64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // One leftover sextet cannot end a valid encoding.
  if (bits >= 6) return std::nullopt;
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out.push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return std::nullopt;
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

// A decimal number in [lo, hi], all of `s`.
std::optional<uint32_t> parse_bounded(const std::string& s, uint32_t lo, uint32_t hi) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  uint64_t v = std::stoull(s);
  if (v < lo || v > hi) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace

std::optional<std::map<std::string, std::string>> parse_query(std::string_view path) {
  std::map<std::string, std::string> out;
  auto q = path.find('?');
  if (q == std::string_view::npos) return out;
  std::string_view rest = path.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!key || !value) return std::nullopt;
    out[*key] = *value;
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> parse_basic_auth(std::string_view header) {
  auto space = header.find(' ');
  if (space == std::string_view::npos || !iequals(header.substr(0, space), "Basic"))
    return std::nullopt;
  std::string_view token = header.substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  auto decoded = base64_decode(token);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

bool accepts_gzip(std::string_view accept_encoding) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view coding = trim(item.substr(0, semi));
    if (!iequals(coding, "gzip") && !iequals(coding, "x-gzip") && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    // "q=0", "q=0.0", "q=0.000": refused; any other weight accepts.
    std::string_view param = trim(item.substr(semi + 1));
    if (param.size() < 2 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') return true;
    std::string_view q = trim(param.substr(2));
    return q.find_first_not_of("0.") != std::string_view::npos;
  }
  return false;
}

bool check_password(const std::string& password, const std::string& hash) {
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  // Compare in constant time: the length is public, the content is not.
  if (!out || out[0] == '*' || std::strlen(out) != hash.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < hash.size(); ++i) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
  return diff == 0;
}

size_t AuthCache::DigestHash::operator()(const Digest& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof(h));  // already uniformly distributed
  return h;
}

AuthCache::AuthCache(std::map<std::string, std::string> users, size_t capacity, Check check)
    : users_(std::move(users)), capacity_(capacity ? capacity : 1), check_(std::move(check)) {}

bool AuthCache::allowed(const std::string& user, const std::string& password) {
  auto it = users_.find(user);
  if (it == users_.end()) return false;
  // The user name and the password, separated by a byte neither may hold in
  // a valid credential's place ("a\0bc" and "ab\0c" must differ).
  std::string credential = user;
  credential.push_back('\0');
  credential += password;
  Digest digest{};
  unsigned int len = 0;
  if (EVP_Digest(credential.data(), credential.size(), digest.data(), &len, EVP_sha256(),
                 nullptr) != 1 ||
      len != digest.size())
    return false;
  {
    std::lock_guard lk(mu_);
    if (auto v = verdicts_.find(digest); v != verdicts_.end()) return v->second;
  }
  bool ok;
  {
    std::lock_guard lk(check_mu_);
    ok = check_(password, it->second);
    std::lock_guard lk2(mu_);
    ++checks_;
  }
  std::lock_guard lk(mu_);
  if (verdicts_.size() >= capacity_) verdicts_.clear();
  verdicts_.emplace(digest, ok);
  return ok;
}

uint64_t AuthCache::checks() const {
  std::lock_guard lk(mu_);
  return checks_;
}

HttpRouter::HttpRouter(core::Registry& reg, std::function<Readiness()> readiness,
                       std::map<std::string, std::string> users, uint64_t min_scrape_interval_ns,
                       Clock clock, AuthCache::Check check)
    : reg_(reg),
      readiness_(std::move(readiness)),
      auth_(std::move(users), 1024, std::move(check)),
      min_interval_ns_(min_scrape_interval_ns),
      clock_(clock ? std::move(clock) : Clock(core::mono_ns)) {
  collects_family_ =
      reg_.add({.name = "ksight_scrape_collects_total",
                .help = "Snapshots /metrics rendered; scrapes within web.min_scrape_interval "
                        "of one share it.",
                .kind = core::MetricKind::counter,
                .expires = false});
}

uint64_t HttpRouter::scrapes() const {
  return scrapes_.load();
}

uint64_t HttpRouter::collects() const {
  return collects_.load();
}

HttpRouter::MetricsBody HttpRouter::metrics_body(bool gzip) {
  std::lock_guard lk(scrape_mu_);
  const uint64_t now = clock_();
  if (!body_.plain || now - body_at_ns_ >= min_interval_ns_) {
    reg_.write(now).add(collects_family_, {}, 1);
    auto snap = reg_.collect(now);
    // Series come and go slowly: the last body's size, plus a little, fits
    // the next one without growing the buffer while writing.
    std::string out;
    out.reserve(last_body_size_ + last_body_size_ / 16);
    append_prometheus_text(snap, out);
    last_body_size_ = out.size();
    body_ = {.plain = text(std::move(out)), .gzip = nullptr};
    body_at_ns_ = now;
    collects_.fetch_add(1);
  }
  if (gzip && !body_.gzip) {
    // Compressed once per body, whoever asks first. Level 1: scrape bodies
    // are repetitive text, so the fastest level already saves most of the
    // bytes, at a fraction of the default level's time.
    try {
      body_.gzip = text(gzip_compress(*body_.plain, 1));
    } catch (const std::exception&) {
      // zlib out of memory: this scraper gets the plain body.
    }
  }
  return body_;
}

std::optional<HttpResponse> HttpRouter::refuse_unauthorized(std::string_view authorization) {
  if (!auth_.enabled()) return std::nullopt;
  auto cred = parse_basic_auth(authorization);
  if (cred && auth_.allowed(cred->first, cred->second)) return std::nullopt;
  return HttpResponse{.status = 401,
                      .content_type = kTextPlain,
                      .body = text("Unauthorized\n"),
                      .auth_challenge = true};
}

HttpResponse HttpRouter::profile(std::string_view full_path) {
  auto bad = [](std::string why) {
    return HttpResponse{.status = 400, .content_type = kTextPlain, .body = text(why + "\n")};
  };
  auto args = parse_query(full_path);
  if (!args) return bad("malformed query string");
  ProfileQuery q;
  for (const auto& [key, value] : *args) {
    if (key == "seconds") {
      auto v = parse_bounded(value, 1, kMaxProfileSeconds);
      if (!v) return bad("seconds: expected 1 to " + std::to_string(kMaxProfileSeconds));
      q.seconds = *v;
    } else if (key == "pid") {
      auto v = parse_bounded(value, 1, 4194304);  // PID_MAX_LIMIT
      if (!v) return bad("pid: expected a process id");
      q.pid = *v;
    } else if (key == "pod") {
      q.pod = value;
    } else if (key == "namespace") {
      q.ns = value;
    } else {
      return bad("unknown parameter '" + key + "' (seconds, pid, pod, namespace)");
    }
  }
  return profile_handler_(q);
}

HttpResponse HttpRouter::handle(const HttpRequest& req) {
  if (req.method != "GET" && req.method != "HEAD")
    return {.status = 405, .content_type = kTextPlain, .body = text("GET only\n")};
  // The path without a query string: "/metrics?x=1" is /metrics.
  std::string_view path = req.path.substr(0, req.path.find('?'));
  if (path == "/debug/pprof/profile" && profile_handler_) {
    if (auto refused = refuse_unauthorized(req.authorization)) return *refused;
    return profile(req.path);
  }
  if (path == "/metrics") {
    if (auto refused = refuse_unauthorized(req.authorization)) return *refused;
    const bool gzip = accepts_gzip(req.accept_encoding);
    MetricsBody body = metrics_body(gzip);
    scrapes_.fetch_add(1);
    HttpResponse res{.status = 200, .content_type = kExposition, .body = body.plain};
    // Caches between us and the scraper must key on what it accepts.
    res.headers.emplace_back("Vary", "Accept-Encoding");
    if (gzip && body.gzip) {
      res.body = body.gzip;
      res.headers.emplace_back("Content-Encoding", "gzip");
    }
    return res;
  }
  if (path == "/healthz") {
    Readiness r = readiness_ ? readiness_() : Readiness{true, {}};
    if (r.live) return {.status = 200, .content_type = kTextPlain, .body = text("ok\n")};
    return {.status = 503, .content_type = kTextPlain, .body = text("not live\n" + r.live_detail)};
  }
  if (path == "/readyz") {
    Readiness r = readiness_ ? readiness_() : Readiness{true, {}};
    if (r.ready) return {.status = 200, .content_type = kTextPlain, .body = text("ready\n")};
    return {.status = 503, .content_type = kTextPlain, .body = text("not ready\n" + r.detail)};
  }
  return {.status = 404,
          .content_type = kTextPlain,
          .body = text("not found: try /metrics, /healthz or /readyz\n")};
}

}  // namespace ksight::exporters
