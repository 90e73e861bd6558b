#include "identity/kube_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>

#include "core/text.h"
#include "version.h"

namespace ksight::identity {

namespace {

using Clock = std::chrono::steady_clock;

// Enough of an error answer for its Status message; the rest is dropped.
constexpr size_t kMaxErrorBody = 64 << 10;
constexpr auto kPollInterval = std::chrono::milliseconds(250);

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// What the callbacks of one transfer share with get().
struct Transfer {
  CURL* easy = nullptr;
  const KubeRequest* req = nullptr;
  KubeResponse* resp = nullptr;
  Clock::time_point last_byte;
};

size_t on_header(char*, size_t size, size_t n, void* user) {
  static_cast<Transfer*>(user)->last_byte = Clock::now();
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  t->last_byte = Clock::now();
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) {
    if (t->req->on_data && !t->req->on_data({data, len})) {
      t->resp->abandoned = true;
      return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
    }
  } else if (t->resp->error_body.size() < kMaxErrorBody) {
    t->resp->error_body.append(data, std::min(len, kMaxErrorBody - t->resp->error_body.size()));
  }
  return len;
}

// Sets an option that may be refused (a TLS backend without blob support).
template <typename T>
std::expected<void, std::string> set(CURL* easy, CURLoption opt, T value, const char* name) {
  if (CURLcode rc = curl_easy_setopt(easy, opt, value); rc != CURLE_OK)
    return std::unexpected(std::string("curl refuses ") + name + ": " + curl_easy_strerror(rc));
  return {};
}

// The TLS and proxy settings of `cfg` on a handle.
std::expected<void, std::string> configure_tls(CURL* easy, const KubeConfig& cfg) {
  auto blob = [](const std::string& pem) {
    return curl_blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
  };
  std::expected<void, std::string> r;
  if (!cfg.ca_file.empty()) r = set(easy, CURLOPT_CAINFO, cfg.ca_file.c_str(), "the CA file");
  if (r && !cfg.ca_pem.empty()) {
    curl_blob b = blob(cfg.ca_pem);
    r = set(easy, CURLOPT_CAINFO_BLOB, &b, "certificate-authority-data");
  }
  if (r && cfg.insecure_skip_tls_verify) {
    r = set(easy, CURLOPT_SSL_VERIFYPEER, 0L, "insecure-skip-tls-verify");
    if (r) r = set(easy, CURLOPT_SSL_VERIFYHOST, 0L, "insecure-skip-tls-verify");
  }
  if (r && !cfg.client_cert_file.empty())
    r = set(easy, CURLOPT_SSLCERT, cfg.client_cert_file.c_str(), "client-certificate");
  if (r && !cfg.client_cert_pem.empty()) {
    curl_blob b = blob(cfg.client_cert_pem);
    r = set(easy, CURLOPT_SSLCERT_BLOB, &b, "client-certificate-data");
  }
  if (r && !cfg.client_key_file.empty())
    r = set(easy, CURLOPT_SSLKEY, cfg.client_key_file.c_str(), "client-key");
  if (r && !cfg.client_key_pem.empty()) {
    curl_blob b = blob(cfg.client_key_pem);
    r = set(easy, CURLOPT_SSLKEY_BLOB, &b, "client-key-data");
  }
  if (r && (!cfg.client_cert_file.empty() || !cfg.client_cert_pem.empty())) {
    r = set(easy, CURLOPT_SSLCERTTYPE, "PEM", "a PEM client certificate");
    if (r) r = set(easy, CURLOPT_SSLKEYTYPE, "PEM", "a PEM client key");
  }
  if (r && !cfg.proxy.empty()) r = set(easy, CURLOPT_PROXY, cfg.proxy.c_str(), "proxy-url");
  return r;
}

}  // namespace

struct KubeClient::Impl {
  CURLM* multi = nullptr;
  std::atomic<bool> interrupted{false};
  ~Impl() {
    if (multi) curl_multi_cleanup(multi);
  }
};

std::string url_query_escape(std::string_view value) {
  return core::percent_encode(value);
}

std::expected<std::unique_ptr<KubeClient>, std::string> KubeClient::create(KubeConfig cfg) {
  static CurlGlobal curl_global;
  while (!cfg.server.empty() && cfg.server.back() == '/') cfg.server.pop_back();
  if (!cfg.server.starts_with("https://") && !cfg.server.starts_with("http://"))
    return std::unexpected("API server \"" + cfg.server + "\" is not an http(s):// URL");
  if (auto token = cfg.bearer_token(); !token) return std::unexpected(token.error());
  Easy probe(curl_easy_init());
  if (!probe) return std::unexpected("curl_easy_init failed");
  if (auto r = configure_tls(probe.get(), cfg); !r) return std::unexpected(r.error());
  auto impl = std::make_unique<Impl>();
  impl->multi = curl_multi_init();
  if (!impl->multi) return std::unexpected("curl_multi_init failed");
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(cfg), std::move(impl)));
}

KubeClient::KubeClient(KubeConfig cfg, std::unique_ptr<Impl> impl)
    : cfg_(std::move(cfg)), impl_(std::move(impl)) {}

KubeClient::~KubeClient() = default;

void KubeClient::interrupt() {
  impl_->interrupted = true;
  curl_multi_wakeup(impl_->multi);
}

KubeResponse KubeClient::get(const KubeRequest& req) {
  KubeResponse resp;
  if (impl_->interrupted) {
    resp.interrupted = true;
    return resp;
  }
  auto token = cfg_.bearer_token();
  if (!token) {
    resp.transport_error = "cannot read the bearer token";
    resp.transport_detail = token.error();
    return resp;
  }
  Easy easy(curl_easy_init());
  if (!easy) {
    resp.transport_error = resp.transport_detail = "curl_easy_init failed";
    return resp;
  }
  CURL* h = easy.get();
  Slist headers(curl_slist_append(nullptr, "Accept: application/json"));
  if (!token->empty())
    headers.reset(
        curl_slist_append(headers.release(), ("Authorization: Bearer " + *token).c_str()));
  const std::string url = cfg_.server + req.path;
  Transfer t{h, &req, &resp, Clock::now()};
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ksight/" KSIGHT_VERSION);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl decodes: LISTs shrink a lot
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.total_timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  // Checked by create(); the same settings cannot fail now.
  (void)configure_tls(h, cfg_);

  CURLM* multi = impl_->multi;
  curl_multi_add_handle(multi, h);
  auto last_tick = Clock::now();
  for (;;) {
    int running = 0;
    if (CURLMcode mc = curl_multi_perform(multi, &running); mc != CURLM_OK) {
      resp.transport_error = resp.transport_detail = curl_multi_strerror(mc);
      break;
    }
    if (running == 0) {
      int queued = 0;
      CURLcode result = CURLE_OK;
      while (CURLMsg* msg = curl_multi_info_read(multi, &queued))
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) result = msg->data.result;
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
      if (result == CURLE_OK) {
        resp.complete = true;
      } else if (!resp.abandoned) {
        resp.transport_error = curl_easy_strerror(result);
        resp.transport_detail = errbuf[0] ? errbuf : resp.transport_error;
      }
      break;
    }
    if (impl_->interrupted) {
      resp.interrupted = true;
      break;
    }
    auto now = Clock::now();
    if (now - t.last_byte > req.stall_timeout) {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
      resp.stalled = true;
      break;
    }
    if (req.on_tick && now - last_tick >= kPollInterval) {
      last_tick = now;
      req.on_tick();
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr);
  }
  curl_multi_remove_handle(multi, h);
  return resp;
}

}  // namespace ksight::identity
