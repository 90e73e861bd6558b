#pragma once
// A minimal OTLP/HTTP receiver for the tests: accepts POSTs on loopback,
// inflates gzip bodies, keeps every request, and answers 200, or 503 with
// Retry-After while "unavailable", never answers while "silent", and drops
// connections while "down".
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ksight::test {

class OtlpReceiver {
 public:
  // ok: 200; unavailable: 503 + Retry-After; silent: never answers;
  // down: closes every connection at once, as a crashed collector's host would.
  enum class Mode { ok, unavailable, silent, down };
  struct Request {
    std::string path;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;                            // inflated
  };

  explicit OtlpReceiver(int port, Mode mode = Mode::ok);
  ~OtlpReceiver();
  void set_mode(Mode m) { mode_ = m; }
  std::vector<Request> requests() const;
  // Writes every body received on `path` to `file`, one per line.
  void dump(const std::string& path, const std::string& file) const;

 private:
  void serve();
  void handle(int fd);

  int listen_fd_ = -1;
  std::atomic<Mode> mode_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<int> parked_;  // connections held open without an answer (silent)
  std::thread thread_;
  std::vector<std::thread> handlers_;  // touched by the accept thread only
};

}  // namespace ksight::test
