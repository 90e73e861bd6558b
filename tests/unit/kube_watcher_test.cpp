// The pod watcher against the fake API server: LIST with paging, WATCH,
// resuming, relisting, stalls, auth failures, backoff and a prompt stop
// (issue 13).
#include "identity/kube_watcher.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "support/fake_apiserver.h"

namespace ksight::identity {
namespace {

using namespace std::chrono_literals;
using test::fake_container_id;
using test::FakeApiServer;
using test::FakePod;
using test::FakeRequest;
using test::wait_until;

KubeConfig config_for(const FakeApiServer& fake, const std::string& token = "") {
  KubeConfig cfg;
  cfg.server = fake.url();
  cfg.token = token;
  cfg.source = "test";
  return cfg;
}

KubeWatcherOptions fast() {
  KubeWatcherOptions o;
  o.watch_timeout = 30s;
  o.stall_margin = 1s;
  o.initial_backoff = 50ms;
  o.max_backoff = 200ms;
  o.connect_timeout = 1s;
  o.list_timeout = 5s;
  return o;
}

FakePod make_pod(const std::string& name, const std::string& node, uint64_t seed) {
  FakePod p{.name = name, .uid = "uid-" + name, .node = node};
  p.labels["pod-template-hash"] = "5d4c8b9f7";
  p.owners = {{"ReplicaSet", "web-5d4c8b9f7"}};
  p.containers = {{"app", fake_container_id(seed), ""}};
  return p;
}

bool is_watch(const FakeRequest& r) {
  return r.path == "/api/v1/pods" && r.is_watch();
}
bool is_list(const FakeRequest& r) {
  return r.path == "/api/v1/pods" && !r.is_watch();
}

std::vector<FakeRequest> watches(const FakeApiServer& fake) {
  std::vector<FakeRequest> out;
  for (auto& r : fake.requests())
    if (is_watch(r)) out.push_back(r);
  return out;
}

std::unique_ptr<KubeWatcher> start(const KubeConfig& cfg, PodStore& store,
                                   KubeWatcherOptions opts = fast(),
                                   const std::string& node = "node-a") {
  auto w = KubeWatcher::start(cfg, node, store, opts);
  EXPECT_TRUE(w) << w.error();
  return w ? std::move(*w) : nullptr;
}

TEST(KubeWatcher, ListsThisNodesPodsPageByPageThenWatchesOnce) {
  FakeApiServer fake;
  for (int i = 0; i < 7; ++i) fake.add_pod(make_pod("a-" + std::to_string(i), "node-a", i));
  for (int i = 0; i < 3; ++i) fake.add_pod(make_pod("b-" + std::to_string(i), "node-b", 10 + i));
  const std::string list_rv = fake.resource_version();
  PodStore store;
  auto opts = fast();
  opts.list_page_size = 3;
  auto w = start(config_for(fake), store, opts);
  ASSERT_TRUE(w->wait_synced(2s));
  EXPECT_EQ(store.size(), 7u);
  auto p = store.by_container_id(fake_container_id(4));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first.name, "a-4");
  EXPECT_EQ(p->first.workload, "web");
  EXPECT_EQ(p->first.workload_kind, "Deployment");
  EXPECT_FALSE(store.by_uid("uid-b-0"));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));

  auto reqs = fake.requests();
  std::vector<FakeRequest> lists;
  for (auto& r : reqs) {
    EXPECT_EQ(r.param("fieldSelector"), "spec.nodeName=node-a") << r.path;
    if (is_list(r)) lists.push_back(r);
  }
  ASSERT_EQ(lists.size(), 3u);  // 3 + 3 + 1
  EXPECT_EQ(lists[0].param("limit"), "3");
  EXPECT_EQ(lists[0].param("continue"), "");
  EXPECT_NE(lists[1].param("continue"), "");
  EXPECT_NE(lists[2].param("continue"), lists[1].param("continue"));
  auto ws = watches(fake);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].param("resourceVersion"), list_rv);
  EXPECT_EQ(ws[0].param("allowWatchBookmarks"), "true");
  EXPECT_EQ(ws[0].param("timeoutSeconds"), "30");
  EXPECT_EQ(ws[0].headers["accept"], "application/json");
  auto st = w->stats();
  EXPECT_TRUE(st.synced);
  EXPECT_EQ(st.lists, 1u);
  EXPECT_EQ(st.relists, 0u);
  EXPECT_EQ(st.starts(WatchStart::initial), 1u);
  EXPECT_EQ(st.resource_version, list_rv);
}

TEST(KubeWatcher, SeesAddModifyDeleteWithinASecond) {
  FakeApiServer fake;
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));

  fake.add_pod(make_pod("web-1", "node-a", 1));
  fake.add_pod(make_pod("elsewhere", "node-b", 2));
  EXPECT_TRUE(wait_until([&] { return store.by_uid("uid-web-1").has_value(); }, 1s));

  auto modified = make_pod("web-1", "node-a", 1);
  modified.containers.push_back({"sidecar", fake_container_id(3), ""});
  fake.modify_pod(modified);
  EXPECT_TRUE(
      wait_until([&] { return store.by_container_id(fake_container_id(3)).has_value(); }, 1s));
  EXPECT_EQ(store.by_container_id(fake_container_id(3))->second.name, "sidecar");

  const std::string rv = fake.delete_pod("default", "web-1");
  EXPECT_TRUE(wait_until([&] { return store.by_uid("uid-web-1")->deleted; }, 1s));
  EXPECT_FALSE(store.by_uid("uid-elsewhere"));
  auto st = w->stats();
  EXPECT_EQ(st.count(WatchEventType::added), 1u);
  EXPECT_EQ(st.count(WatchEventType::modified), 1u);
  EXPECT_EQ(st.count(WatchEventType::deleted), 1u);
  EXPECT_EQ(st.resource_version, rv);
}

TEST(KubeWatcher, ResumesFromTheLastResourceVersionAfterADisconnect) {
  FakeApiServer fake;
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  const std::string rv1 = fake.add_pod(make_pod("web-1", "node-a", 1));
  ASSERT_TRUE(wait_until([&] { return w->stats().resource_version == rv1; }));

  fake.drop_watches();  // the connection breaks: no final chunk
  ASSERT_TRUE(wait_until([&] { return watches(fake).size() == 2 && fake.open_watches() == 1; }));
  EXPECT_EQ(watches(fake)[1].param("resourceVersion"), rv1);

  // Cut in the middle of an event: resumed from the version before it, the
  // event comes again, whole.
  fake.cut_next_event();
  const std::string rv2 = fake.add_pod(make_pod("web-2", "node-a", 2));
  ASSERT_TRUE(wait_until([&] { return store.by_uid("uid-web-2").has_value(); }));
  auto ws = watches(fake);
  ASSERT_EQ(ws.size(), 3u);
  EXPECT_EQ(ws[2].param("resourceVersion"), rv1);
  auto st = w->stats();
  EXPECT_EQ(st.starts(WatchStart::disconnected), 2u);
  EXPECT_EQ(st.lists, 1u);  // resumed, never relisted
  EXPECT_EQ(st.resource_version, rv2);
  EXPECT_EQ(st.transport_errors, 2u);
}

TEST(KubeWatcher, ServerTimeoutResumesAtOnceWithoutBackoff) {
  FakeApiServer fake;
  PodStore store;
  auto opts = fast();
  opts.watch_timeout = 1s;
  auto w = start(config_for(fake), store, opts);
  ASSERT_TRUE(wait_until([&] { return watches(fake).size() >= 3; }, 4s));
  auto st = w->stats();
  EXPECT_GE(st.starts(WatchStart::server_timeout), 2u);
  EXPECT_EQ(st.backoffs, 0u);
  EXPECT_EQ(st.lists, 1u);
  for (auto& r : watches(fake)) EXPECT_EQ(r.param("timeoutSeconds"), "1");
}

TEST(KubeWatcher, RelistsWhenTheResourceVersionIsGone) {
  FakeApiServer fake;
  fake.add_pod(make_pod("old", "node-a", 1));
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  const std::string rv = w->stats().resource_version;
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));

  // The watcher is cut off while the pods change and the server forgets
  // the history: the version it resumes from is gone.
  fake.fail_pod_requests(503, -1);
  fake.drop_watches();
  ASSERT_TRUE(wait_until([&] { return w->stats().api_errors.contains(503); }));
  fake.add_pod(make_pod("new", "node-a", 2));
  fake.delete_pod("default", "old");
  fake.compact();
  fake.fail_pod_requests(0, 0);

  // Relisted, and watching from the new list's version.
  ASSERT_TRUE(wait_until(
      [&] {
        auto ws = watches(fake);
        return w->stats().relists == 1 && !ws.empty() &&
               ws.back().param("resourceVersion") == fake.resource_version();
      },
      3s));
  EXPECT_TRUE(store.by_uid("uid-new"));
  EXPECT_TRUE(store.by_uid("uid-old")->deleted);  // gone while nobody watched
  auto st = w->stats();
  EXPECT_EQ(st.api_errors[410], 1u);
  EXPECT_EQ(st.count(WatchEventType::error), 1u);
  EXPECT_EQ(st.lists, 2u);
  auto ws = watches(fake);
  bool asked_old = false;
  for (auto& r : ws) asked_old |= r.param("resourceVersion") == rv && r.status == 200;
  EXPECT_TRUE(asked_old);
  EXPECT_EQ(ws.back().param("resourceVersion"), fake.resource_version());
}

TEST(KubeWatcher, RelistsOnHttp410) {
  FakeApiServer fake;
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));
  fake.fail_pod_requests(410, 1);
  fake.drop_watches();
  ASSERT_TRUE(wait_until([&] { return w->stats().relists == 1 && fake.open_watches() == 1; }));
  EXPECT_EQ(w->stats().api_errors[410], 1u);
}

TEST(KubeWatcher, StalledWatchIsAbandonedAndResumed) {
  FakeApiServer fake;
  PodStore store;
  auto opts = fast();
  opts.watch_timeout = 1s;
  opts.stall_margin = 500ms;
  fake.stall_watches(true);
  auto w = start(config_for(fake), store, opts);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return w->stats().starts(WatchStart::stalled) >= 1; }, 4s));
  fake.stall_watches(false);
  fake.add_pod(make_pod("web-1", "node-a", 1));
  EXPECT_TRUE(wait_until([&] { return store.by_uid("uid-web-1").has_value(); }, 3s));
  EXPECT_EQ(w->stats().lists, 1u);
  EXPECT_NE(w->stats().last_error.find("stall"), std::string::npos) << w->stats().last_error;
}

TEST(KubeWatcher, UnauthorizedBacksOffCountsLogsOnceAndRereadsTheToken) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  auto saved_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("kube-test", sink));

  FakeApiServer fake({.token = "right"});
  std::string dir =
      std::filesystem::temp_directory_path() / ("ksight-kube-token-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/token") << "wrong\n";
  KubeConfig cfg = config_for(fake);
  cfg.token_file = dir + "/token";
  PodStore store;
  auto w = start(cfg, store);
  std::this_thread::sleep_for(1500ms);
  auto st = w->stats();
  EXPECT_FALSE(st.synced);
  EXPECT_GE(st.api_errors[401], 3u);
  EXPECT_LE(st.api_errors[401], 40u);  // backoff, not a busy loop
  EXPECT_GE(st.backoffs, 3u);
  EXPECT_NE(st.last_error.find("HTTP 401"), std::string::npos) << st.last_error;
  size_t logged_401 = 0;
  for (const auto& line : sink->last_formatted())
    logged_401 += line.find("HTTP 401") != std::string::npos;
  EXPECT_EQ(logged_401, 1u);

  // The token rotates: the next attempt reads the new one.
  std::ofstream(dir + "/token") << "right\n";
  EXPECT_TRUE(w->wait_synced(2s));
  w.reset();
  std::filesystem::remove_all(dir);
  spdlog::set_default_logger(saved_logger);
}

uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // nobody listens there now
  return ntohs(addr.sin_port);
}

template <typename F>
std::chrono::milliseconds time_of(F&& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0);
}

TEST(KubeWatcher, NoApiServerKeepsRetryingWithBackoffAndStopsPromptly) {
  KubeConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(closed_port());
  PodStore store;
  auto opts = fast();
  opts.initial_backoff = 100ms;
  opts.max_backoff = 400ms;
  auto w = start(cfg, store, opts);
  std::this_thread::sleep_for(1500ms);
  auto st = w->stats();
  EXPECT_FALSE(st.synced);
  EXPECT_GE(st.transport_errors, 3u);
  EXPECT_LE(st.transport_errors, 15u);
  EXPECT_GE(st.backoffs + 1, st.transport_errors);  // one wait after every failure
  EXPECT_NE(st.last_error.find("LIST pods on " + cfg.server), std::string::npos) << st.last_error;
  EXPECT_LT(time_of([&] { w.reset(); }), 1000ms);

  // Stopping in the middle of a long backoff is prompt too.
  opts.initial_backoff = opts.max_backoff = 20s;
  w = start(cfg, store, opts);
  ASSERT_TRUE(wait_until([&] { return w->stats().backoffs == 1; }));
  EXPECT_LT(time_of([&] { w.reset(); }), 1000ms);
}

TEST(KubeWatcher, StopIsPromptInTheMiddleOfAWatch) {
  FakeApiServer fake;
  PodStore store;
  auto opts = fast();
  opts.watch_timeout = 600s;
  auto w = start(config_for(fake), store, opts);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));
  EXPECT_LT(time_of([&] { w.reset(); }), 1000ms);

  fake.stall_watches(true);  // and of a stalled one
  w = start(config_for(fake), store, opts);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));
  EXPECT_LT(time_of([&] { w.reset(); }), 1000ms);
}

TEST(KubeWatcher, DeletedPodStaysResolvableUntilDeletedTtl) {
  FakeApiServer fake;
  fake.add_pod(make_pod("web-1", "node-a", 1));
  PodStore store({.max_pods = 64, .deleted_ttl = 2s});
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  fake.delete_pod("default", "web-1");
  ASSERT_TRUE(wait_until([&] { return store.by_uid("uid-web-1")->deleted; }, 1s));
  const auto deleted_at = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(1s);
  auto c = store.by_container_id(fake_container_id(1));  // an event of the dead pod
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first.name, "web-1");
  EXPECT_TRUE(wait_until([&] { return !store.by_uid("uid-web-1"); }, 3s));
  EXPECT_GE(std::chrono::steady_clock::now() - deleted_at, 1700ms);
  EXPECT_EQ(store.stats().expired, 1u);
}

TEST(KubeWatcher, BookmarksAdvanceTheResourceVersion) {
  FakeApiServer fake;
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }));
  const std::string before = w->stats().resource_version;
  fake.add_pod(make_pod("elsewhere", "node-b", 1));  // filtered out: no event here
  fake.send_bookmark();
  ASSERT_TRUE(wait_until([&] { return w->stats().count(WatchEventType::bookmark) == 1; }));
  EXPECT_NE(w->stats().resource_version, before);
  EXPECT_EQ(w->stats().resource_version, fake.resource_version());
}

TEST(KubeWatcher, OversizeEventIsSkippedAndCounted) {
  FakeApiServer fake;
  PodStore store;
  auto opts = fast();
  opts.max_event_bytes = 4096;
  auto w = start(config_for(fake), store, opts);
  ASSERT_TRUE(w->wait_synced(2s));
  auto big = make_pod("big", "node-a", 1);
  for (int i = 0; i < 100; ++i) big.labels["label-" + std::to_string(i)] = std::string(50, 'x');
  fake.add_pod(big);
  fake.add_pod(make_pod("small", "node-a", 2));
  ASSERT_TRUE(wait_until([&] { return store.by_uid("uid-small").has_value(); }));
  EXPECT_FALSE(store.by_uid("uid-big"));
  EXPECT_EQ(w->stats().events_oversize, 1u);
}

TEST(KubeWatcher, MalformedEventBacksOffAndResumes) {
  FakeApiServer fake;
  PodStore store;
  auto w = start(config_for(fake), store);
  ASSERT_TRUE(w->wait_synced(2s));
  const std::string rv = fake.add_pod(make_pod("web-1", "node-a", 1));
  ASSERT_TRUE(wait_until([&] { return w->stats().resource_version == rv; }));
  fake.inject_line("{\"type\":\"ADDED\",\"object\":{");
  // The watch after the bad line, resumed from the last good version.
  ASSERT_TRUE(wait_until([&] { return watches(fake).size() == 2; }));
  auto st = w->stats();
  EXPECT_EQ(st.starts(WatchStart::bad_event), 1u);
  EXPECT_EQ(st.backoffs, 1u);
  EXPECT_NE(st.last_error.find("not a JSON object"), std::string::npos) << st.last_error;
  EXPECT_EQ(watches(fake).back().param("resourceVersion"), rv);
  fake.add_pod(make_pod("web-2", "node-a", 2));
  EXPECT_TRUE(wait_until([&] { return store.by_uid("uid-web-2").has_value(); }));
}

TEST(KubeWatcher, StartRefusesWhatRetryingCannotFix) {
  PodStore store;
  KubeConfig cfg;
  cfg.server = "ftp://example";
  auto w = KubeWatcher::start(cfg, "node-a", store);
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("not an http(s):// URL"), std::string::npos) << w.error();
  cfg.server = "https://example";
  EXPECT_FALSE(KubeWatcher::start(cfg, "", store));
  cfg.token_file = "/nonexistent/token";
  auto no_token = KubeWatcher::start(cfg, "node-a", store);
  ASSERT_FALSE(no_token);
  EXPECT_NE(no_token.error().find("/nonexistent/token"), std::string::npos) << no_token.error();
}

}  // namespace
}  // namespace ksight::identity
