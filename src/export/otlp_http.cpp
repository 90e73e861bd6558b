#include "export/otlp_http.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace ksight::exporters {

namespace {

size_t discard_body(char*, size_t size, size_t n, void*) {
  return size * n;
}

// Picks "Retry-After: <seconds>" out of the response headers.
size_t header_line(char* data, size_t size, size_t n, void* user) {
  std::string_view line(data, size * n);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string lower(line.substr(0, kName.size()));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == kName) {
      auto value = line.substr(kName.size());
      long secs = std::strtol(std::string(value).c_str(), nullptr, 10);
      if (secs > 0) *static_cast<long*>(user) = secs;
    }
  }
  return size * n;
}

// Called by curl about once a second and on every transfer step: aborts a
// request still hanging when the shutdown deadline passes.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* abort_at = static_cast<std::atomic<int64_t>*>(user);
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() >= abort_at->load() ? 1
                                                                                               : 0;
}

bool retryable(long status) {
  // 0: no answer at all (refused, timed out, reset).
  return status == 0 || status == 408 || status == 429 || status == 502 || status == 503 ||
         status == 504;
}

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

}  // namespace

std::string_view to_string(OtlpSignal s) {
  return s == OtlpSignal::metrics ? "metrics" : "logs";
}

std::string gzip_compress(std::string_view data, int level) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2 failed");
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int r = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (r != Z_STREAM_END) throw std::runtime_error("gzip failed");
  out.resize(zs.total_out);
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_otel_pairs(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  auto decode = [](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i]);
      }
    }
    return out;
  };
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = trim(item.substr(0, eq));
    if (key.empty()) continue;
    out.emplace_back(decode(key), decode(trim(item.substr(eq + 1))));
  }
  return out;
}

OtlpHttpExporter::OtlpHttpExporter(OtlpHttpOptions opts) : opts_(std::move(opts)) {
  static CurlGlobal curl_global;
  while (!opts_.endpoint.empty() && opts_.endpoint.back() == '/') opts_.endpoint.pop_back();
  header_lines_.push_back("Content-Type: application/json");
  header_lines_.push_back("Expect:");  // no 100-continue round trip for big bodies
  if (opts_.gzip) header_lines_.push_back("Content-Encoding: gzip");
  for (const auto& [k, v] : opts_.headers) header_lines_.push_back(k + ": " + v);
  sender_ = std::thread([this] { run(); });
}

OtlpHttpExporter::~OtlpHttpExporter() {
  shutdown(std::chrono::milliseconds(0));
}

bool OtlpHttpExporter::enqueue(OtlpSignal signal, std::string body, core::ProbeCounts events) {
  if (opts_.gzip) body = gzip_compress(body);
  size_t idx = static_cast<size_t>(signal);
  {
    std::lock_guard lock(mu_);
    if (stopping_ || stats_.queue_bytes + body.size() > opts_.max_queue_bytes) {
      ++stats_.queue_full[idx];
      settle({signal, {}, std::move(events)}, core::SinkOutcome::dropped);
      return false;
    }
    stats_.queue_bytes += body.size();
    queue_.push_back({signal, std::move(body), std::move(events)});
  }
  cv_.notify_one();
  return true;
}

long OtlpHttpExporter::post(const Item& item, std::chrono::milliseconds timeout,
                            long* retry_after_s) {
  CURL* curl = curl_easy_init();
  if (!curl) return 0;
  std::string url =
      opts_.endpoint + (item.signal == OtlpSignal::metrics ? "/v1/metrics" : "/v1/logs");
  curl_slist* headers = nullptr;
  for (const auto& h : header_lines_) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, item.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(item.body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(timeout.count(), 1)));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<int64_t>(timeout.count(), 1)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_line);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, retry_after_s);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &abort_at_ns_);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

void OtlpHttpExporter::run() {
  using namespace std::chrono;
  auto backoff = opts_.initial_backoff;
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, nothing left
    auto now = steady_clock::now();
    if (stopping_ && now >= deadline_) break;
    Item item = queue_.front();  // a copy: the queue keeps it until it is delivered
    auto timeout = opts_.timeout;
    if (stopping_) timeout = std::min(timeout, duration_cast<milliseconds>(deadline_ - now));
    lock.unlock();
    long retry_after = 0;
    long status = post(item, timeout, &retry_after);
    lock.lock();
    size_t idx = static_cast<size_t>(item.signal);
    if (status >= 200 && status < 300) {
      ++stats_.sent[idx];
      settle(item, core::SinkOutcome::delivered);
    } else if (!retryable(status)) {
      ++stats_.rejected[idx];
      settle(item, core::SinkOutcome::failed);
    } else {
      ++stats_.retries[idx];
      auto wait = retry_after > 0 ? milliseconds(retry_after * 1000) : backoff;
      wait = std::min(wait, opts_.max_backoff);
      backoff = std::min(backoff * 2, opts_.max_backoff);
      // Sleep out the backoff; shutdown() wakes us to cut it to its deadline.
      const auto until = steady_clock::now() + wait;
      for (;;) {
        auto limit = stopping_ ? std::min(until, deadline_) : until;
        if (steady_clock::now() >= limit) break;
        const bool was_stopping = stopping_;
        cv_.wait_until(lock, limit, [&] { return stopping_ != was_stopping; });
      }
      continue;
    }
    backoff = opts_.initial_backoff;
    stats_.queue_bytes -= queue_.front().body.size();
    queue_.pop_front();
  }
  for (const auto& it : queue_) {
    ++stats_.shutdown[static_cast<size_t>(it.signal)];
    settle(it, core::SinkOutcome::failed);
  }
  queue_.clear();
  stats_.queue_bytes = 0;
}

void OtlpHttpExporter::shutdown(std::chrono::milliseconds budget) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = std::chrono::steady_clock::now() + budget;
      abort_at_ns_ =
          std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_.time_since_epoch())
              .count();
    }
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

OtlpHttpStats OtlpHttpExporter::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace ksight::exporters
