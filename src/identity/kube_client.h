#pragma once
// One GET at a time against the Kubernetes API server, with the TLS and
// credentials of a KubeConfig. Requests run on a curl multi handle so that
// interrupt(), from any thread, ends the one in flight at once, and so that a
// request with no bytes arriving for too long is abandoned (a watch whose
// connection died without a reset).
#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "identity/kube_config.h"

namespace ksight::identity {

struct KubeRequest {
  std::string path;  // "/api/v1/pods?...", appended to the server URL
  // The body of a 2xx answer, as it arrives; returning false abandons the request.
  std::function<bool(std::string_view)> on_data;
  // Abandoned when no byte (not even a header) arrives for this long.
  std::chrono::milliseconds stall_timeout{60'000};
  std::chrono::milliseconds total_timeout{0};  // 0: none, as a watch needs
  std::chrono::milliseconds connect_timeout{10'000};
  // Called about every 250 ms while the request runs (housekeeping).
  std::function<void()> on_tick;
};

struct KubeResponse {
  long status = 0;           // HTTP status; 0 when no answer came
  bool complete = false;     // the whole body arrived (or the server ended it cleanly)
  bool stalled = false;      // abandoned: stall_timeout passed without a byte
  bool interrupted = false;  // abandoned: interrupt()
  bool abandoned = false;    // abandoned: on_data returned false
  // Why the transfer failed, when it did: curl's fixed description (the same
  // for every attempt, so it can key "log once") and its detailed message.
  std::string transport_error, transport_detail;
  std::string error_body;  // the first 64 KiB of a non-2xx answer (a Status object)
};

class KubeClient {
 public:
  // Checks what can be checked without connecting (the URL's scheme, the
  // token file, that curl takes the certificates given as data).
  static std::expected<std::unique_ptr<KubeClient>, std::string> create(KubeConfig cfg);
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // Runs one request to its end. Reads the bearer token anew (it rotates).
  KubeResponse get(const KubeRequest& req);
  // From any thread: ends the request in flight, and every later one at once.
  void interrupt();
  const KubeConfig& config() const { return cfg_; }

 private:
  struct Impl;
  explicit KubeClient(KubeConfig cfg, std::unique_ptr<Impl> impl);
  KubeConfig cfg_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
std::string url_query_escape(std::string_view value);

}  // namespace ksight::identity
