// The fake API server's pods: changes, LIST with paging, WATCH streams.
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <stdexcept>

#include "support/fake_apiserver.h"
#include "support/time_scale.h"

namespace ksight::test {

namespace {

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return std::string(size) + std::string(data) + "\r\n";
}

std::string event_line(const std::string& type, const std::string& object) {
  return "{\"type\":\"" + type + "\",\"object\":" + object + "}\n";
}

std::string gone_line(uint64_t asked, uint64_t oldest) {
  return event_line("ERROR",
                    fake_json::status(410, "Expired",
                                      "too old resource version: " + std::to_string(asked) + " (" +
                                          std::to_string(oldest) + ")"));
}

std::string bookmark_line(uint64_t rv) {
  return event_line("BOOKMARK",
                    "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":\"" +
                        std::to_string(rv) +
                        "\",\"creationTimestamp\":null},\"spec\":{\"containers\":null},"
                        "\"status\":{}}");
}

struct Counted {
  std::atomic<size_t>& n;
  explicit Counted(std::atomic<size_t>& c) : n(c) { ++n; }
  ~Counted() { --n; }
};

}  // namespace

std::string FakeApiServer::change_locked(const std::string& type, FakePod pod, bool deleting) {
  const uint64_t rv = ++rv_;
  history_.push_back({rv, pod.ns, pod.node, event_line(type, pod_json(pod, rv, deleting))});
  while (history_.size() > opts_.history) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }
  auto key = std::pair{pod.ns, pod.name};
  if (deleting)
    pods_.erase(key);
  else
    pods_[key] = Stored{std::move(pod), rv};
  cv_.notify_all();
  return std::to_string(rv);
}

std::string FakeApiServer::add_pod(FakePod pod) {
  std::lock_guard lock(mu_);
  if (pods_.contains({pod.ns, pod.name}))
    throw std::logic_error("fake API server: pod " + pod.ns + "/" + pod.name + " exists");
  return change_locked("ADDED", std::move(pod), false);
}

std::string FakeApiServer::modify_pod(FakePod pod) {
  std::lock_guard lock(mu_);
  if (!pods_.contains({pod.ns, pod.name}))
    throw std::logic_error("fake API server: no pod " + pod.ns + "/" + pod.name);
  return change_locked("MODIFIED", std::move(pod), false);
}

std::string FakeApiServer::delete_pod(const std::string& ns, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = pods_.find({ns, name});
  if (it == pods_.end()) throw std::logic_error("fake API server: no pod " + ns + "/" + name);
  return change_locked("DELETED", it->second.pod, true);
}

std::string FakeApiServer::resource_version() const {
  std::lock_guard lock(mu_);
  return std::to_string(rv_);
}

void FakeApiServer::send_bookmark() {
  std::lock_guard lock(mu_);
  ++bookmarks_;
  cv_.notify_all();
}

void FakeApiServer::compact() {
  std::lock_guard lock(mu_);
  history_.clear();
  compacted_rv_ = rv_;
  snapshots_.clear();  // continue tokens expire with the history
}

void FakeApiServer::stall_watches(bool on) {
  std::lock_guard lock(mu_);
  stall_ = on;
  cv_.notify_all();
}

void FakeApiServer::cut_next_event() {
  std::lock_guard lock(mu_);
  cut_next_ = true;
}

void FakeApiServer::drop_watches() {
  std::lock_guard lock(mu_);
  ++drops_;
  cv_.notify_all();
}

void FakeApiServer::inject_line(std::string line) {
  std::lock_guard lock(mu_);
  injected_.push_back(std::move(line) + "\n");
  cv_.notify_all();
}

void FakeApiServer::fail_pod_requests(int status, int count) {
  std::lock_guard lock(mu_);
  fail_status_ = status;
  fail_count_ = count;
}

std::vector<FakeRequest> FakeApiServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t FakeApiServer::count_requests(const std::function<bool(const FakeRequest&)>& pred) const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(std::count_if(requests_.begin(), requests_.end(), pred));
}

bool FakeApiServer::client_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
  char c;
  return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void FakeApiServer::serve_list(int fd, size_t index, const FakeRequest& req, const Selector& sel) {
  const std::string limit_param = req.param("limit");
  const size_t limit = limit_param.empty() ? 0 : std::stoul(limit_param);
  const std::string token = req.param("continue");
  std::string body;
  int status = 200;
  {
    std::lock_guard lock(mu_);
    Snapshot snap;
    if (!token.empty()) {
      auto it = snapshots_.find(token);
      if (it != snapshots_.end()) {
        snap = std::move(it->second);
        snapshots_.erase(it);
      } else {
        status = 410;
        body = fake_json::status(410, "Expired",
                                 "The provided continue parameter is too old to display a "
                                 "consistent list result. You can start a new list without the "
                                 "continue parameter.");
      }
    } else {
      snap.rv = rv_;
      for (const auto& [key, stored] : pods_)
        if (sel.matches(stored.pod.ns, stored.pod.node))
          snap.items.push_back(pod_json(stored.pod, stored.rv));
    }
    if (status == 200) {
      const size_t end =
          limit == 0 ? snap.items.size() : std::min(snap.items.size(), snap.offset + limit);
      std::string meta = "{\"resourceVersion\":\"" + std::to_string(snap.rv) + "\"";
      if (end < snap.items.size()) {
        std::string next = "fake-continue-" + std::to_string(next_token_++);
        meta += ",\"continue\":\"" + next +
                "\",\"remainingItemCount\":" + std::to_string(snap.items.size() - end);
        snapshots_[next] = Snapshot{snap.rv, snap.items, end};
      }
      body = "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":" + meta + "},\"items\":[";
      for (size_t i = snap.offset; i < end; ++i)
        body += (i > snap.offset ? "," : "") + snap.items[i];
      body += "]}";
    }
    requests_[index].status = status;
  }
  std::string head =
      "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Gone") +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n";
  send_all(fd, head + body);
}

void FakeApiServer::serve_watch(int fd, size_t index, const FakeRequest& req, const Selector& sel) {
  const std::string from = req.param("resourceVersion");
  const std::string allow = req.param("allowWatchBookmarks");
  const bool bookmarks = allow == "true" || allow == "1";
  const std::string timeout = req.param("timeoutSeconds");
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(timeout.empty() ? 1800 : std::stol(timeout));
  Counted watching(open_watches_);
  std::vector<std::string> out;
  uint64_t pos = 0, seen_bookmarks = 0, seen_drops = 0;
  bool gone = false;
  {
    std::lock_guard lock(mu_);
    requests_[index].status = 200;
    seen_bookmarks = bookmarks_;
    seen_drops = drops_;
    if (from.empty() || from == "0") {
      // "Any version": the current pods as ADDED events, then the changes.
      for (const auto& [key, stored] : pods_)
        if (sel.matches(stored.pod.ns, stored.pod.node))
          out.push_back(event_line("ADDED", pod_json(stored.pod, stored.rv)));
      pos = rv_;
    } else {
      pos = std::stoull(from);
      gone = pos < compacted_rv_;
      if (gone) out.push_back(gone_line(pos, compacted_rv_));
    }
  }
  if (!send_all(fd,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache, "
                "private\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"))
    return;
  for (const auto& line : out)
    if (!send_all(fd, chunk(line))) return;
  if (gone) {
    send_all(fd, "0\r\n\r\n");
    return;
  }
  for (;;) {
    out.clear();
    bool cut = false, end = false;
    {
      std::unique_lock lock(mu_);
      auto has_news = [&] {
        return pos < compacted_rv_ || !injected_.empty() ||
               (!history_.empty() && history_.back().rv > pos) || bookmarks_ != seen_bookmarks ||
               std::chrono::steady_clock::now() >= deadline;
      };
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [&] { return stop_ || drops_ != seen_drops || (!stall_ && has_news()); });
      if (stop_ || drops_ != seen_drops) return;  // no final chunk: the client sees a break
      if (!stall_) {
        if (pos < compacted_rv_) {
          out.push_back(gone_line(pos, compacted_rv_));
          end = true;
        } else {
          for (const auto& ev : history_) {
            if (ev.rv <= pos) continue;
            pos = ev.rv;
            if (sel.matches(ev.ns, ev.node)) out.push_back(ev.line);
          }
          for (auto& line : injected_) out.push_back(std::move(line));
          injected_.clear();
          cut = !out.empty() && cut_next_;
          if (cut) cut_next_ = false;
          if (bookmarks_ != seen_bookmarks && bookmarks) out.push_back(bookmark_line(rv_));
          seen_bookmarks = bookmarks_;
          end = out.empty() && std::chrono::steady_clock::now() >= deadline;
        }
      }
    }
    if (cut) {
      std::string half = chunk(out.front());
      send_all(fd, half.substr(0, half.size() / 2));
      return;
    }
    for (const auto& line : out)
      if (!send_all(fd, chunk(line))) return;
    if (end) {
      send_all(fd, "0\r\n\r\n");
      return;
    }
    if (out.empty() && client_gone(fd)) return;
  }
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + scaled(timeout);
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace ksight::test
