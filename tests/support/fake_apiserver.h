#pragma once
// A fake Kubernetes API server for tests: plain HTTP/1.1 on 127.0.0.1 (no
// TLS), one thread per connection. It serves pods the test controls the way
// a real API server does: LIST with resourceVersion and `continue` paging,
// WATCH as newline-delimited JSON events in a chunked response, bookmarks,
// 410 Gone (an ERROR event) for a resourceVersion older than it keeps, the
// fieldSelector spec.nodeName, a bearer token, and the discovery documents
// kubectl reads first. Faults on demand: stalled watches, connections cut in
// the middle of an event, error statuses. It records every request.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ksight::test {

struct FakeContainer {
  std::string name;
  std::string id;           // 64 hex digits; "" for a container not started yet
  std::string previous_id;  // the container it replaced (lastState.terminated); "" for none
};

struct FakeOwner {
  std::string kind, name;
  bool controller = true;
};

struct FakePod {
  std::string ns = "default";
  std::string name, uid, node;
  std::map<std::string, std::string> labels;
  std::vector<FakeOwner> owners;
  std::vector<FakeContainer> containers, init_containers, ephemeral_containers;
  std::string phase = "Running";
};

struct FakeRequest {
  std::string method, path;                    // path without the query
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  int status = 0;                              // what the fake answered
  bool is_watch() const;
  std::string param(const std::string& name) const;
};

struct FakeApiServerOptions {
  std::string token;      // when set, requests without "Authorization: Bearer <token>" get 401
  size_t history = 1000;  // watch events kept; older resourceVersions get 410 Gone
};

class FakeApiServer {
 public:
  using Options = FakeApiServerOptions;
  explicit FakeApiServer(Options opts = {});
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  std::string url() const;  // http://127.0.0.1:<port>
  uint16_t port() const { return port_; }

  // Each change takes the next resourceVersion (returned) and goes to the
  // open watches. modify/delete find the pod by namespace and name.
  std::string add_pod(FakePod pod);
  std::string modify_pod(FakePod pod);
  std::string delete_pod(const std::string& ns, const std::string& name);
  std::string resource_version() const;
  // A BOOKMARK to every watch that allows them.
  void send_bookmark();
  // Forgets every event so far (and the continue tokens of paged LISTs): a
  // watch from an older resourceVersion gets 410 Gone.
  void compact();

  // Faults.
  void stall_watches(bool on);  // while on, watches send nothing and never end
  void cut_next_event();        // the next event goes out half, then the connection closes
  void drop_watches();          // closes the open watches at once, without the final chunk
  // The next `count` pod requests (LIST or WATCH; -1: all) are answered with `status`.
  void fail_pod_requests(int status, int count);
  // `line` (not necessarily JSON) goes, once, to the next open watch to look.
  void inject_line(std::string line);

  std::vector<FakeRequest> requests() const;
  size_t count_requests(const std::function<bool(const FakeRequest&)>& pred) const;
  size_t open_watches() const { return open_watches_.load(); }

  // JSON as a real API server writes it (public for tests of the parser).
  static std::string pod_json(const FakePod& pod, uint64_t rv, bool deleting = false);

 private:
  struct Stored {
    FakePod pod;
    uint64_t rv = 0;
  };
  struct Event {
    uint64_t rv = 0;
    std::string ns, node;
    std::string line;  // {"type":...,"object":...}\n
  };
  struct Snapshot {  // a paged LIST in progress
    uint64_t rv = 0;
    std::vector<std::string> items;
    size_t offset = 0;
  };
  struct Connection {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  struct Selector {
    std::string ns, node;  // "" matches all
    bool matches(const std::string& pod_ns, const std::string& pod_node) const;
  };

  void accept_loop();
  void serve(int fd);
  void answer(int fd, FakeRequest& req);
  // `index`: the request's place in requests_, where its status goes.
  void serve_list(int fd, size_t index, const FakeRequest& req, const Selector& sel);
  void serve_watch(int fd, size_t index, const FakeRequest& req, const Selector& sel);
  size_t record(const FakeRequest& req);
  void set_status(size_t index, int status);
  // Stores a change and queues its event; returns the new resourceVersion.
  std::string change_locked(const std::string& type, FakePod pod, bool deleting);
  static bool client_gone(int fd);

  const Options opts_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> open_watches_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;                                  // a change, a fault, stop
  std::map<std::pair<std::string, std::string>, Stored> pods_;  // by (namespace, name)
  uint64_t rv_ = 1000;
  uint64_t compacted_rv_ = 1000;  // events after this one are kept
  std::deque<Event> history_;
  uint64_t bookmarks_ = 0;
  uint64_t drops_ = 0;
  bool stall_ = false;
  bool cut_next_ = false;
  int fail_status_ = 0, fail_count_ = 0;
  std::deque<std::string> injected_;
  std::map<std::string, Snapshot> snapshots_;  // by continue token
  uint64_t next_token_ = 1;
  std::vector<FakeRequest> requests_;
  std::set<int> fds_;  // open connections, shut down at destruction

  std::list<Connection> connections_;  // the accept thread's alone
  std::thread accept_thread_;
};

// A container id for tests: 64 hex digits derived from `seed`.
std::string fake_container_id(uint64_t seed);

// The other documents of the fake (fake_apiserver_json.cpp).
namespace fake_json {
// A Status object, the body of every error answer and ERROR event.
std::string status(int code, const std::string& reason, const std::string& message);
// The discovery documents (/api, /apis, /api/v1, /version); "" for any other path.
std::string discovery(const std::string& path, uint16_t port);
}  // namespace fake_json

// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

}  // namespace ksight::test
