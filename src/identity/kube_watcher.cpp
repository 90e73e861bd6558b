#include "identity/kube_watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace ksight::identity {

namespace {

using Clock = std::chrono::steady_clock;

// A watch that ends cleanly sooner than this without delivering an event is
// not healthy: a server closing every watch at once must not be hammered.
constexpr auto kMinHealthyWatch = std::chrono::milliseconds(500);
// Failures logged per outage: a handful of kinds in practice.
constexpr size_t kMaxLoggedFailures = 32;
// An outage ends after this long without a failure.
constexpr auto kQuietPeriod = std::chrono::minutes(10);
// A Status message can be long; one log line and last_error need its start.
constexpr size_t kMaxErrorMessage = 512;

// Splits a watch body into lines, one event each, holding at most
// `max_line` bytes of an unfinished line: a longer event is skipped to its
// newline and counted.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line) : max_line_(max_line) {}

  // Calls on_line(line) for every complete, non-blank line; false when
  // on_line asked to stop.
  template <typename OnLine>
  bool feed(std::string_view data, OnLine&& on_line) {
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const std::string_view piece = data.substr(0, nl);
      if (skipping_ || line_.size() + piece.size() > max_line_) {
        if (!skipping_) ++oversize_;
        line_.clear();
        skipping_ = nl == std::string_view::npos;
        if (skipping_) return true;
        data.remove_prefix(nl + 1);
        continue;
      }
      if (nl == std::string_view::npos) {
        line_.append(piece);
        return true;
      }
      data.remove_prefix(nl + 1);
      std::string_view line = piece;
      if (!line_.empty()) {
        line_.append(piece);
        line = line_;
      }
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
      const bool go_on = line.empty() || on_line(line);
      line_.clear();
      if (!go_on) return false;
    }
    return true;
  }
  uint64_t oversize() const { return oversize_; }
  bool partial() const { return !line_.empty() || skipping_; }

 private:
  const size_t max_line_;
  std::string line_;
  bool skipping_ = false;
  uint64_t oversize_ = 0;
};

std::string_view string_at(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>())
                                            : std::string_view();
}

const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

// The message of a Kubernetes Status body, else the start of the body, on one line.
std::string status_message(const std::string& body) {
  std::string msg;
  if (auto doc = parse_kube_json(body); doc) msg = string_at(*doc, "message");
  if (msg.empty()) msg = body.substr(0, 200);
  std::replace_if(
      msg.begin(), msg.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return msg;
}

std::optional<WatchEventType> event_type(std::string_view type) {
  if (type == "ADDED") return WatchEventType::added;
  if (type == "MODIFIED") return WatchEventType::modified;
  if (type == "DELETED") return WatchEventType::deleted;
  if (type == "BOOKMARK") return WatchEventType::bookmark;
  if (type == "ERROR") return WatchEventType::error;
  return std::nullopt;
}

}  // namespace

std::string_view to_string(WatchStart reason) {
  switch (reason) {
    case WatchStart::initial:
      return "initial";
    case WatchStart::server_timeout:
      return "server_timeout";
    case WatchStart::stalled:
      return "stalled";
    case WatchStart::disconnected:
      return "disconnected";
    case WatchStart::http_error:
      return "http_error";
    case WatchStart::bad_event:
      return "bad_event";
    case WatchStart::error_event:
      return "error_event";
    case WatchStart::count:
      break;
  }
  return "unknown";
}

std::string_view to_string(WatchEventType type) {
  switch (type) {
    case WatchEventType::added:
      return "ADDED";
    case WatchEventType::modified:
      return "MODIFIED";
    case WatchEventType::deleted:
      return "DELETED";
    case WatchEventType::bookmark:
      return "BOOKMARK";
    case WatchEventType::error:
      return "ERROR";
    case WatchEventType::count:
      break;
  }
  return "unknown";
}

std::expected<std::unique_ptr<KubeWatcher>, std::string> KubeWatcher::start(const KubeConfig& cfg,
                                                                            const std::string& node,
                                                                            PodStore& store,
                                                                            Options opts) {
  if (node.empty()) return std::unexpected("kubernetes: the node name is empty");
  auto client = KubeClient::create(cfg);
  if (!client) return std::unexpected("kubernetes (" + cfg.source + "): " + client.error());
  return std::unique_ptr<KubeWatcher>(new KubeWatcher(std::move(*client), node, store, opts));
}

KubeWatcher::KubeWatcher(std::unique_ptr<KubeClient> client, std::string node, PodStore& store,
                         Options opts)
    : client_(std::move(client)),
      node_(std::move(node)),
      store_(store),
      opts_(opts),
      backoff_(opts.initial_backoff),
      jitter_rng_(std::random_device{}()),
      thread_([this] { run(); }) {}

KubeWatcher::~KubeWatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  client_->interrupt();
  if (thread_.joinable()) thread_.join();
}

KubeWatcherStats KubeWatcher::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool KubeWatcher::wait_synced(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stats_.synced; });
}

bool KubeWatcher::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

std::string KubeWatcher::selector_query() const {
  return "fieldSelector=" + url_query_escape("spec.nodeName=" + node_);
}

void KubeWatcher::run() {
  bool need_list = true;
  WatchStart reason = WatchStart::initial;
  while (!stopping()) {
    if (need_list) {
      if (auto failure = list()) {
        if (stopping()) break;
        note_failure(*failure);
        if (!backoff_wait()) break;
        continue;
      }
      need_list = false;
      reason = WatchStart::initial;
    }
    {
      std::lock_guard lock(mu_);
      ++stats_.watch_starts[static_cast<size_t>(reason)];
    }
    Failure failure;
    bool healthy = false;
    WatchEnd end = watch(failure, healthy);
    if (healthy) note_recovered();
    switch (end) {
      case WatchEnd::stopped:
        return;
      case WatchEnd::server_timeout:
        reason = WatchStart::server_timeout;
        if (!healthy) {
          note_failure(
              {reason, "closed early", "the API server ended a watch at once, without an event"});
          if (!backoff_wait()) return;
        }
        break;
      case WatchEnd::gone:
        need_list = true;
        // 410 for the version a LIST just returned: wait rather than loop.
        if (reason == WatchStart::initial && !healthy && !backoff_wait()) return;
        break;
      case WatchEnd::failed:
        reason = failure.reason;
        note_failure(failure);
        if (!backoff_wait()) return;
        break;
    }
  }
}

std::optional<KubeWatcher::Failure> KubeWatcher::list() {
  std::vector<PodMeta> pods;
  uint64_t dropped = 0, unusable = 0;
  std::string cont, rv;
  bool restarted = false;
  for (;;) {
    std::string path =
        "/api/v1/pods?" + selector_query() + "&limit=" + std::to_string(opts_.list_page_size);
    if (!cont.empty()) path += "&continue=" + url_query_escape(cont);
    std::string body;
    bool too_big = false;
    KubeRequest req;
    req.path = path;
    req.on_data = [&](std::string_view data) {
      too_big = body.size() + data.size() > opts_.max_list_page_bytes;
      if (!too_big) body.append(data);
      return !too_big;
    };
    req.stall_timeout = req.total_timeout = opts_.list_timeout;
    req.connect_timeout = opts_.connect_timeout;
    req.on_tick = [this] { store_.expire(Clock::now()); };
    KubeResponse resp = client_->get(req);
    if (resp.interrupted) return Failure{WatchStart::initial, "stopping", "stopping"};
    if (too_big)
      return Failure{
          WatchStart::initial, "list too big",
          "a LIST page is larger than " + std::to_string(opts_.max_list_page_bytes >> 20) + " MiB"};
    if (resp.status == 410 && !cont.empty() && !restarted) {
      // The continue token expired between pages: start over, once.
      restarted = true;
      cont.clear();
      pods.clear();
      continue;
    }
    if (!resp.complete || resp.status != 200)
      return http_failure(WatchStart::initial, resp, "LIST pods");
    auto doc = parse_kube_json(body);
    if (!doc || !doc->is_object())
      return Failure{WatchStart::initial, "list malformed",
                     "the LIST answer is not JSON: " + (doc ? "not an object" : doc.error())};
    const auto& items = member(*doc, "items");
    if (items.is_array()) {
      for (const auto& item : items) {
        auto pod = pod_from_json(item);
        if (!pod)
          ++unusable;
        else if (pods.size() >= store_.capacity())
          ++dropped;
        else
          pods.push_back(std::move(*pod));
      }
    }
    const auto& meta = member(*doc, "metadata");
    rv = string_at(meta, "resourceVersion");
    cont = string_at(meta, "continue");
    if (cont.empty()) break;
  }
  const size_t n = pods.size();
  store_.replace_all(std::move(pods), Clock::now());
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = !stats_.synced;
    ++stats_.lists;
    if (!first) ++stats_.relists;
    stats_.synced = true;
    stats_.resource_version = rv;
    stats_.list_pods_dropped += dropped;
    stats_.events_unusable += unusable;
  }
  cv_.notify_all();
  if (first) spdlog::info("kubernetes: {} pods on node {} (resourceVersion {})", n, node_, rv);
  return std::nullopt;
}

KubeWatcher::WatchEnd KubeWatcher::watch(Failure& failure, bool& healthy) {
  std::string rv;
  {
    std::lock_guard lock(mu_);
    rv = stats_.resource_version;
  }
  LineSplitter lines(opts_.max_event_bytes);
  WatchProgress progress;
  KubeRequest req;
  req.path =
      "/api/v1/pods?" + selector_query() + "&watch=1&resourceVersion=" + url_query_escape(rv) +
      "&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(opts_.watch_timeout.count());
  req.on_data = [&](std::string_view data) {
    const uint64_t oversize_before = lines.oversize();
    bool go_on =
        lines.feed(data, [&](std::string_view line) { return handle_event(line, progress); });
    if (uint64_t skipped = lines.oversize() - oversize_before; skipped > 0) {
      std::lock_guard lock(mu_);
      stats_.events_oversize += skipped;
      if (!oversize_logged_)
        spdlog::warn(
            "kubernetes: skipped a watch event larger than {} bytes (counted; further "
            "ones are not logged)",
            opts_.max_event_bytes);
      oversize_logged_ = true;
    }
    return go_on;
  };
  req.stall_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.watch_timeout) +
                      opts_.stall_margin;
  req.connect_timeout = opts_.connect_timeout;
  req.on_tick = [this] { store_.expire(Clock::now()); };

  const auto started = Clock::now();
  KubeResponse resp = client_->get(req);
  if (resp.interrupted) return WatchEnd::stopped;
  healthy = resp.status == 200 && (progress.usable_events > 0 ||
                                   (resp.complete && Clock::now() - started >= kMinHealthyWatch));
  if (progress.gone) return WatchEnd::gone;
  if (progress.failure) {
    failure = std::move(*progress.failure);
    return WatchEnd::failed;
  }
  if (resp.status == 410) {
    std::lock_guard lock(mu_);
    ++stats_.api_errors[410];
    return WatchEnd::gone;
  }
  if (resp.complete && resp.status == 200 && !lines.partial()) return WatchEnd::server_timeout;
  if (resp.complete && resp.status == 200) {
    // The server ended the body in the middle of an event.
    resp.complete = false;
    resp.transport_error = resp.transport_detail = "the watch ended in the middle of an event";
  }
  failure = http_failure(WatchStart::disconnected, resp, "WATCH pods");
  return WatchEnd::failed;
}

bool KubeWatcher::handle_event(std::string_view line, WatchProgress& progress) {
  auto doc = parse_kube_json(line);
  if (!doc || !doc->is_object()) {
    progress.failure =
        Failure{WatchStart::bad_event, "malformed watch event",
                "a watch event is not a JSON object: " + (doc ? std::string("") : doc.error())};
    return false;
  }
  const auto type = event_type(string_at(*doc, "type"));
  const auto& object = member(*doc, "object");
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  if (!type) {
    ++stats_.events_unusable;
    return true;
  }
  ++stats_.events[static_cast<size_t>(*type)];
  if (*type == WatchEventType::error) {
    // A Status object: 410 means the version we resumed from is compacted away.
    const auto& code_json = member(object, "code");
    const int code = code_json.is_number_integer() ? code_json.get<int>() : 0;
    ++stats_.api_errors[code];
    if (code == 410) {
      progress.gone = true;
    } else {
      progress.failure = Failure{WatchStart::error_event, "ERROR event " + std::to_string(code),
                                 "watch ERROR event " + std::to_string(code) + " " +
                                     std::string(string_at(object, "reason")) + ": " +
                                     std::string(string_at(object, "message"))};
    }
    return false;
  }
  if (*type == WatchEventType::added || *type == WatchEventType::modified ||
      *type == WatchEventType::deleted) {
    auto pod = pod_from_json(object);
    if (!pod) {
      ++stats_.events_unusable;
    } else {
      const std::string uid = pod->uid;
      // A deleted pod's last state may name a container no earlier event did.
      store_.upsert(std::move(*pod), now);
      if (*type == WatchEventType::deleted) store_.remove(uid, now);
    }
  }
  // Every object carries the version to resume from, a bookmark's only that.
  if (auto rv = string_at(member(object, "metadata"), "resourceVersion"); !rv.empty())
    stats_.resource_version = rv;
  ++progress.usable_events;
  return true;
}

KubeWatcher::Failure KubeWatcher::http_failure(WatchStart reason, const KubeResponse& resp,
                                               std::string_view what) {
  std::lock_guard lock(mu_);
  if (resp.stalled) {
    return {WatchStart::stalled, "stalled",
            std::string(what) + ": nothing arrived within the stall timeout; abandoned"};
  }
  if (resp.status == 0 || resp.status == 200) {
    ++stats_.transport_errors;
    return {reason, "transport: " + resp.transport_error,
            std::string(what) + " on " + client_->config().server + ": " + resp.transport_detail};
  }
  ++stats_.api_errors[static_cast<int>(resp.status)];
  return {WatchStart::http_error, "HTTP " + std::to_string(resp.status),
          std::string(what) + ": HTTP " + std::to_string(resp.status) + " " +
              status_message(resp.error_body)};
}

void KubeWatcher::note_failure(const Failure& f) {
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  stats_.last_error = f.message.substr(0, kMaxErrorMessage);
  // After a quiet spell a failure starts a new outage, logged afresh; within
  // one, a connection that keeps breaking (an idle timeout on a load
  // balancer) says so once.
  if (now - last_failure_ > kQuietPeriod) logged_.clear();
  last_failure_ = now;
  if (logged_.size() < kMaxLoggedFailures && logged_.insert(f.key).second) {
    spdlog::warn("kubernetes: {}; retrying with backoff (repeats are not logged)",
                 stats_.last_error);
    recovery_to_log_ = true;
  }
}

void KubeWatcher::note_recovered() {
  std::lock_guard lock(mu_);
  backoff_ = opts_.initial_backoff;
  if (!recovery_to_log_) return;
  recovery_to_log_ = false;
  spdlog::info("kubernetes: watching the pods of node {} again", node_);
}

bool KubeWatcher::backoff_wait() {
  std::unique_lock lock(mu_);
  // Equal jitter: half the backoff for sure, the other half at random, so
  // agents restarted together do not retry together.
  const auto base = backoff_;
  backoff_ = std::min(backoff_ * 2, opts_.max_backoff);
  std::uniform_int_distribution<int64_t> half(0, base.count() / 2);
  const auto until = Clock::now() + base / 2 + std::chrono::milliseconds(half(jitter_rng_));
  ++stats_.backoffs;
  while (!stop_ && Clock::now() < until) {
    // Wake once a second meanwhile: deleted pods still expire on time.
    cv_.wait_until(lock, std::min(until, Clock::now() + std::chrono::seconds(1)),
                   [&] { return stop_; });
    store_.expire(Clock::now());
  }
  return !stop_;
}

}  // namespace ksight::identity
