#pragma once
// Keeps a PodStore holding this node's pods: one background thread LISTs
// the node's pods (fieldSelector spec.nodeName, paged), then WATCHes them
// from the list's resourceVersion, resuming from the last resourceVersion it
// saw after a disconnect, a stall or the server's timeout, and LISTing again
// when the server no longer has that version (410 Gone).
//
// Failures (refused connections, 401/403, 5xx, malformed events) are retried
// with exponential backoff and jitter; each distinct failure is logged once
// per outage (failures less than 10 minutes apart), and everything is
// counted in KubeWatcherStats. Stopping (the
// destructor) ends a request in flight at once.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "identity/kube_client.h"
#include "identity/kube_config.h"
#include "identity/pod_store.h"

namespace ksight::identity {

// Why a watch request was made.
enum class WatchStart : uint8_t {
  initial,         // after a LIST
  server_timeout,  // the server ended the previous watch (timeoutSeconds)
  stalled,         // nothing arrived, not even a bookmark, for timeoutSeconds + margin
  disconnected,    // no connection, or it broke (refused, reset, TLS, DNS)
  http_error,      // the server answered the watch with an error status (401, 403, 5xx)
  bad_event,       // a line of the stream was not a JSON watch event
  error_event,     // an ERROR event other than 410
  count
};
std::string_view to_string(WatchStart reason);

enum class WatchEventType : uint8_t { added, modified, deleted, bookmark, error, count };
std::string_view to_string(WatchEventType type);

struct KubeWatcherStats {
  bool synced = false;   // the first LIST completed: the store holds the node's pods
  uint64_t lists = 0;    // LISTs completed, the first included
  uint64_t relists = 0;  // LISTs after the first (410 Gone)
  std::array<uint64_t, static_cast<size_t>(WatchStart::count)> watch_starts{};
  std::array<uint64_t, static_cast<size_t>(WatchEventType::count)> events{};
  uint64_t events_oversize = 0;        // skipped: longer than max_event_bytes
  uint64_t events_unusable = 0;        // skipped: JSON, but not a pod ksight can use (no uid, ...)
  uint64_t list_pods_dropped = 0;      // listed pods beyond the store's capacity
  uint64_t transport_errors = 0;       // requests without a (complete) answer
  std::map<int, uint64_t> api_errors;  // error answers and ERROR events, by HTTP status code
  uint64_t backoffs = 0;               // waits after a failure
  std::string resource_version;        // the last one seen
  std::string last_error;              // the most recent failure, one line

  uint64_t starts(WatchStart r) const { return watch_starts[static_cast<size_t>(r)]; }
  uint64_t count(WatchEventType t) const { return events[static_cast<size_t>(t)]; }
};

struct KubeWatcherOptions {
  // timeoutSeconds asked of the server for each watch; a watch silent for
  // longer than this plus stall_margin is abandoned.
  std::chrono::seconds watch_timeout{300};
  std::chrono::milliseconds stall_margin{30'000};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds list_timeout{60'000};  // one page
  uint32_t list_page_size = 500;
  size_t max_event_bytes = 8u << 20;  // one watch event (a line)
  size_t max_list_page_bytes = 64u << 20;
};

class KubeWatcher {
 public:
  using Options = KubeWatcherOptions;
  // Starts the thread. Fails only on what retrying cannot fix: an unusable
  // server URL, an empty node name, certificates curl refuses.
  static std::expected<std::unique_ptr<KubeWatcher>, std::string> start(const KubeConfig& cfg,
                                                                        const std::string& node,
                                                                        PodStore& store,
                                                                        Options opts = {});
  ~KubeWatcher();
  KubeWatcher(const KubeWatcher&) = delete;
  KubeWatcher& operator=(const KubeWatcher&) = delete;

  KubeWatcherStats stats() const;
  // Waits until the first LIST is in the store; false when `timeout` passed first.
  bool wait_synced(std::chrono::milliseconds timeout) const;

 private:
  struct Failure {
    WatchStart reason;
    std::string key;      // the same for every repeat of this failure (log once)
    std::string message;  // one line
  };
  enum class WatchEnd { server_timeout, gone, failed, stopped };
  // What one watch's events did, as its lines are handled.
  struct WatchProgress {
    size_t usable_events = 0;  // events other than ERROR
    bool gone = false;         // an ERROR event with code 410
    std::optional<Failure> failure;
  };

  KubeWatcher(std::unique_ptr<KubeClient> client, std::string node, PodStore& store, Options opts);
  void run();
  // LISTs every page into the store; a failure when it could not.
  std::optional<Failure> list();
  WatchEnd watch(Failure& failure, bool& healthy);
  // One line of a watch stream; false ends the watch.
  bool handle_event(std::string_view line, WatchProgress& progress);
  Failure http_failure(WatchStart reason, const KubeResponse& resp, std::string_view what);
  void note_failure(const Failure& f);
  void note_recovered();
  // Sleeps out the backoff (cut short by stop); false when stopping.
  bool backoff_wait();
  bool stopping() const;
  std::string selector_query() const;

  std::unique_ptr<KubeClient> client_;
  const std::string node_;
  PodStore& store_;
  const Options opts_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // stop, synced
  bool stop_ = false;
  KubeWatcherStats stats_;
  // Failures logged in the current outage, by key (bounded: a few kinds).
  std::set<std::string> logged_;
  std::chrono::steady_clock::time_point last_failure_{};
  bool recovery_to_log_ = false;  // a failure was logged: say when it is over
  bool oversize_logged_ = false;  // once per run: it says nothing about an outage
  std::chrono::milliseconds backoff_;
  std::minstd_rand jitter_rng_;  // the thread's alone
  std::thread thread_;           // last: started once everything above exists
};

}  // namespace ksight::identity
