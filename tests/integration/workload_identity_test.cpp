// Workload identity end to end (issue 13's seed scenario): TCP retransmits
// caused by packet loss inside a container of a pod show up in /metrics, in
// OTLP and in the events as that pod's namespace, name, container and
// workload, under both of the kubelet's cgroup layouts. The container is a
// real one (runc, in the exact cgroup path the kubelet creates); the pod's
// metadata comes from a fake API server through the daemon's node-scoped
// watch.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "container.h"
#include "harness.h"
#include "support/fake_apiserver.h"
#include "testnet.h"

namespace ksight::test {
namespace {

using nlohmann::json;

constexpr const char* kNode = "ksight-test-node";
constexpr const char* kToken = "ksight-test-token";

// A kubeconfig for the fake API server, with a bearer token.
std::string write_kubeconfig(const TempDir& dir, const std::string& server) {
  const std::string path = dir.file("kubeconfig");
  std::ofstream(path) << "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                      << "clusters:\n- name: fake\n  cluster:\n    server: " << server << "\n"
                      << "contexts:\n- name: test\n  context:\n    cluster: fake\n    user: agent\n"
                      << "users:\n- name: agent\n  user:\n    token: " << kToken << "\n";
  return path;
}

// The TCP segments the kernel retransmitted in namespace `ns` (all of them:
// the test's connection is the only one there).
uint64_t retrans_segs(const std::string& ns) {
  auto r = run({"/usr/sbin/ip", "netns", "exec", ns, "/bin/cat", "/proc/net/snmp"}, 10s);
  std::istringstream in(r.out);
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (!names.starts_with("Tcp:")) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == "RetransSegs") return std::stoull(value);
  }
  return 0;
}

// The OTLP data points of `metric` in the last export of `path` that carry
// the attribute `key`=`value`: their summed value, and their attributes.
double otlp_sum(const std::string& path, const std::string& metric, const std::string& key,
                const std::string& value, json* attributes) {
  std::string last;
  for (const auto& line : read_lines(path))
    if (line.find(metric) != std::string::npos) last = line;
  if (last.empty()) return -1;
  double sum = 0;
  const json doc = json::parse(last);
  for (const auto& rm : doc["resourceMetrics"])
    for (const auto& sm : rm["scopeMetrics"])
      for (const auto& m : sm["metrics"]) {
        if (m["name"] != metric) continue;
        for (const auto& p : m["sum"]["dataPoints"]) {
          bool match = false;
          for (const auto& a : p["attributes"])
            match = match || (a["key"] == key && a["value"]["stringValue"] == value);
          if (!match) continue;
          sum += p.contains("asDouble") ? p["asDouble"].get<double>()
                                        : std::stod(p["asInt"].get<std::string>());
          if (attributes) *attributes = p["attributes"];
        }
      }
  return sum;
}

// For failure messages: the data points of `metric` in the last export.
std::string otlp_points(const std::string& path, const std::string& metric) {
  std::string last;
  for (const auto& line : read_lines(path))
    if (line.find(metric) != std::string::npos) last = line;
  if (last.empty()) return "no export holds " + metric;
  const json doc = json::parse(last);
  for (const auto& rm : doc["resourceMetrics"])
    for (const auto& sm : rm["scopeMetrics"])
      for (const auto& m : sm["metrics"])
        if (m["name"] == metric) return m.dump();
  return "no " + metric + " in the last export";
}

enum class Layout { cgroupfs, systemd };

class SeedScenario : public ::testing::TestWithParam<Layout> {};

TEST_P(SeedScenario, RetransmitsInAPodsContainerCarryItsIdentity) {
  KSIGHT_REQUIRE_RUNC();
  TestNet net;
  REQUIRE_NET(net);
  TempDir dir;

  // The pod as the API server tells it: a Deployment's ReplicaSet owns it.
  const std::string uid = random_pod_uid(), id = random_container_id();
  FakeApiServer api({.token = kToken});
  api.add_pod({.ns = "payments",
               .name = "api-7d9f8b6c5-x2k4q",
               .uid = uid,
               .node = kNode,
               .labels = {{"app", "api"}, {"pod-template-hash", "7d9f8b6c5"}},
               .owners = {{"ReplicaSet", "api-7d9f8b6c5"}},
               .containers = {{.name = "server", .id = id}}});
  // Another node's pod: the node-scoped watch never sees it.
  api.add_pod({.ns = "payments", .name = "elsewhere", .uid = random_pod_uid(), .node = "other"});

  Daemon d(dir, {"--probes", "tcpretrans", "--kubeconfig", write_kubeconfig(dir, api.url()),
                 "--node-name", kNode});
  ASSERT_TRUE(d.wait_ready({"tcpretrans"})) << d.log();
  ASSERT_TRUE(
      eventually([&] { return metric(d.scrape(), "ksight_kube_synced").value_or(0) == 1; }, 15s))
      << d.log();
  EXPECT_EQ(metric(d.scrape(), "ksight_kube_pods{state=\"live\"}").value_or(-1), 1)
      << "only this node's pod";

  // 30% of what reaches the server's port is lost.
  constexpr int kPort = 5044;
  constexpr long kBytes = 200'000;
  Sock l = listener(net.server_ns(), net.server4, kPort);
  ASSERT_GE(l.get(), 0);
  NftTable fw(net.server_ns(), "ksight_seed");
  ASSERT_FALSE(fw.add({"add", "table", "inet", "ksight_seed"}));
  ASSERT_FALSE(fw.add({"add", "chain", "inet", "ksight_seed", "in", "{", "type", "filter", "hook",
                       "input", "priority", "0", ";", "}"}));
  ASSERT_FALSE(
      fw.add({"add", "rule", "inet", "ksight_seed", "in", "tcp", "dport", std::to_string(kPort),
              "numgen", "random", "mod", "100", "<", "30", "drop"}));
  const uint64_t segs_before = retrans_segs(net.client_ns());

  // The container: the kubelet's path for this pod, in the client namespace.
  const std::string path = GetParam() == Layout::cgroupfs
                               ? kubepods_cgroupfs_path("burstable", uid, id)
                               : kubepods_systemd_path("burstable", uid, id);
  int client_port = 0;
  std::thread server([&] {
    Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (a.get() < 0) return;
    sockaddr_in peer{};
    socklen_t len = sizeof(peer);
    ::getpeername(a.get(), reinterpret_cast<sockaddr*>(&peer), &len);
    client_port = ntohs(peer.sin_port);
    recv_all(a.get(), static_cast<size_t>(kBytes) + 1);  // to the client's FIN
  });
  auto c = RuncContainer::run({.id = id,
                               .cgroups_path = path,
                               .argv = {KSIGHT_WORK, "tcp-send", net.server4, std::to_string(kPort),
                                        std::to_string(kBytes)},
                               .netns = "/run/netns/" + net.client_ns()});
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->wait(60s), 0) << c->err();
  server.join();
  const uint64_t segs = retrans_segs(net.client_ns()) - segs_before;

  // The events of the container's connection, each naming the pod. The
  // container has exited: every retransmit has happened.
  auto count_events = [&] {
    uint64_t n = 0;
    for (const auto& line : read_lines(d.events())) {
      auto ev = json::parse(line);
      if (ev["probe"] != "tcpretrans" || ev["sport"] != client_port || ev["saddr"] != net.client4)
        continue;
      ++n;
      EXPECT_EQ(ev["namespace"], "payments") << ev;
      EXPECT_EQ(ev["pod"], "api-7d9f8b6c5-x2k4q") << ev;
      EXPECT_EQ(ev["container"], "server") << ev;
      EXPECT_EQ(ev["workload"], "api") << ev;
      EXPECT_EQ(ev["cgroup_id"], c->cgroup_id()) << ev;
    }
    return n;
  };
  ASSERT_TRUE(eventually([&] { return count_events() > 0; }, 10s))
      << "no retransmit event of port " << client_port << "; RetransSegs " << segs;
  std::this_thread::sleep_for(1s);  // the last batch reaches the file
  const uint64_t events = count_events();
  // A retransmission of a multi-segment skb counts once per call but
  // RetransSegs counts its segments.
  EXPECT_GE(segs, events);

  // /metrics: exactly those retransmits under the pod's labels, no cgroup id.
  const std::vector<std::string> labels = {"namespace=\"payments\"", "pod=\"api-7d9f8b6c5-x2k4q\"",
                                           "container=\"server\"", "workload=\"api\"",
                                           "workload_kind=\"Deployment\""};
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        body = d.scrape();
        return metric_sum(body, "ksight_tcp_retransmits_total", labels) ==
               static_cast<double>(events);
      },
      10s))
      << "events " << events << "\n"
      << body;
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ksight_tcp_retransmits_total{")) {
      EXPECT_EQ(line.find("cgroup_id"), std::string::npos) << line;
    }
  }
  std::printf("[ seen ] %s layout: %llu retransmits of %s/%s/%s (RetransSegs %llu)\n",
              GetParam() == Layout::cgroupfs ? "cgroupfs" : "systemd",
              static_cast<unsigned long long>(events), "payments", "api-7d9f8b6c5-x2k4q", "server",
              static_cast<unsigned long long>(segs));

  // OTLP: the same count, under the semantic-convention attributes.
  json attrs;
  ASSERT_TRUE(eventually(
      [&] {
        return otlp_sum(d.otlp(), "ksight_tcp_retransmits_total", "k8s.pod.name",
                        "api-7d9f8b6c5-x2k4q", &attrs) == static_cast<double>(events);
      },
      10s))
      << otlp_points(d.otlp(), "ksight_tcp_retransmits_total");
  std::map<std::string, std::string> got;
  for (const auto& a : attrs) got[a["key"]] = a["value"]["stringValue"];
  EXPECT_EQ(got["k8s.namespace.name"], "payments");
  EXPECT_EQ(got["k8s.container.name"], "server");
  EXPECT_EQ(got["k8s.deployment.name"], "api");

  // One watch, scoped to this node, with the token.
  EXPECT_GE(api.count_requests([](const FakeRequest& r) {
    return r.param("fieldSelector") == std::string("spec.nodeName=") + kNode;
  }),
            2u);
  EXPECT_EQ(api.count_requests([](const FakeRequest& r) {
    return r.param("fieldSelector").find("spec.nodeName=") == std::string::npos;
  }),
            0u);
  EXPECT_EQ(
      metric(d.scrape(), "ksight_events_lost_total{probe=\"tcpretrans\",reason=\"buffer_full\"}")
          .value_or(0),
      0);
}

// A container at `path` doing 2000 pipe round trips (4000 wake-ups), then
// living 2 s more (no event names it: the resolver's discovery must); its
// runqlat histogram count, as /metrics shows it under `labels`, once > 0.
double runqlat_of_container(Daemon& d, const std::string& path,
                            const std::vector<std::string>& labels, std::string* body) {
  auto c = RuncContainer::run(
      {.cgroups_path = path,
       .argv = {"/bin/sh", "-c", std::string(KSIGHT_WORK) + " pingpong 2000 && sleep 2"},
       .ro_binds = {std::filesystem::path(KSIGHT_WORK).parent_path().string()}});
  EXPECT_TRUE(c.has_value()) << c.error();
  if (!c) return -1;
  EXPECT_EQ(c->wait(30s), 0) << c->err();
  double n = 0;
  eventually(
      [&] {
        *body = d.scrape();
        n = metric_sum(*body, "ksight_runqueue_latency_seconds_count", labels);
        return n > 0;
      },
      10s);
  return n;
}

// Bad input (issue 13, 6): the agent keeps running and labels what it can,
// never nothing, and counts why.
TEST(WorkloadIdentity, WithoutAnApiServerPodsAreNamedByUidAndCounted) {
  KSIGHT_REQUIRE_RUNC();
  TempDir dir;
  // Nothing listens there: the watcher backs off and retries.
  const int closed = free_port();
  Daemon d(
      dir,
      {"--probes", "runqlat", "--kubeconfig",
       write_kubeconfig(dir, "http://127.0.0.1:" + std::to_string(closed)), "--node-name", kNode},
      false);
  ASSERT_TRUE(d.wait_ready({"runqlat"})) << d.log();
  const std::string uid = random_pod_uid(), id = random_container_id();
  std::string body;
  const double n = runqlat_of_container(
      d, kubepods_cgroupfs_path("besteffort", uid, id),
      {"pod=\"" + uid + "\"", "container=\"" + id.substr(0, 12) + "\""}, &body);
  EXPECT_GT(n, 0) << body;
  EXPECT_GE(metric(body, "ksight_identity_unresolved_total{reason=\"pod_unknown\"}").value_or(0),
            1);
  EXPECT_EQ(metric(body, "ksight_kube_synced").value_or(-1), 0);
  EXPECT_GE(metric_sum(body, "ksight_kube_watch_starts_total"), 0);
  // Said once, however many retries.
  const std::string log = d.log();
  size_t said = 0;
  for (size_t at = log.find("127.0.0.1:" + std::to_string(closed)); at != std::string::npos;
       at = log.find("127.0.0.1:" + std::to_string(closed), at + 1))
    ++said;
  EXPECT_LE(said, 2u) << log;
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(WorkloadIdentity, WrongCredentialsAndACutWatchLeaveTheAgentRunning) {
  KSIGHT_REQUIRE_RUNC();
  TempDir dir;
  FakeApiServer api({.token = kToken});
  // A wrong token first: 401, counted, retried with backoff.
  const std::string kc = dir.file("kubeconfig.wrong");
  std::ofstream(kc) << "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: f\n"
                    << "  cluster:\n    server: " << api.url() << "\ncontexts:\n- name: t\n"
                    << "  context:\n    cluster: f\n    user: u\nusers:\n- name: u\n  user:\n"
                    << "    token: not-the-token\n";
  {
    Daemon d(dir, {"--probes", "exec", "--kubeconfig", kc, "--node-name", kNode}, false);
    ASSERT_TRUE(d.wait_ready({"exec"})) << d.log();
    ASSERT_TRUE(eventually(
        [&] {
          return metric(d.scrape(), "ksight_kube_api_errors_total{code=\"401\"}").value_or(0) >= 1;
        },
        10s))
        << d.log();
    EXPECT_EQ(metric(d.scrape(), "ksight_kube_synced").value_or(-1), 0);
    EXPECT_EQ(d.stop(), 0) << d.log();
  }
  // The right token, then the watch is cut in the middle of an event, and a
  // pod with 1000 labels arrives: the agent resumes and names it.
  Daemon d(dir,
           {"--probes", "runqlat", "--kubeconfig", write_kubeconfig(dir, api.url()), "--node-name",
            kNode},
           false);
  ASSERT_TRUE(d.wait_ready({"runqlat"})) << d.log();
  ASSERT_TRUE(eventually([&] { return api.open_watches() == 1; }, 10s));
  api.cut_next_event();
  const std::string uid = random_pod_uid(), id = random_container_id();
  FakePod pod{.ns = "batch",
              .name = "report-28000000-abcde",
              .uid = uid,
              .node = kNode,
              .owners = {{"Job", "report-28000000"}},
              .containers = {{.name = "main", .id = id}}};
  for (int i = 0; i < 1000; ++i) pod.labels["label-" + std::to_string(i)] = std::string(60, 'v');
  api.add_pod(pod);
  ASSERT_TRUE(eventually(
      [&] { return metric(d.scrape(), "ksight_kube_pods{state=\"live\"}").value_or(0) == 1; }, 15s))
      << d.log();
  std::string body;
  const double n = runqlat_of_container(
      d, kubepods_systemd_path("besteffort", uid, id),
      {"namespace=\"batch\"", "pod=\"report-28000000-abcde\"", "container=\"main\"",
       "workload=\"report\"", "workload_kind=\"CronJob\""},
      &body);
  EXPECT_GT(n, 0) << body;
  EXPECT_GE(metric_sum(body, "ksight_kube_watch_starts_total", {"reason=\"disconnected\""}), 1)
      << body;
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(WorkloadIdentity, ACgroupPathNoLayoutKnowsIsNamedByItsPath) {
  KSIGHT_REQUIRE_RUNC();
  TempDir dir;
  Daemon d(dir, {"--probes", "runqlat"}, false);
  ASSERT_TRUE(d.wait_ready({"runqlat"})) << d.log();
  const std::string path = "/ksight-odd-" + std::to_string(::getpid()) + "/tree/x";
  std::string body;
  EXPECT_GT(runqlat_of_container(d, path, {"unit=\"" + path + "\""}, &body), 0) << body;
  EXPECT_GE(metric(body, "ksight_identity_unresolved_total{reason=\"unknown_path\"}").value_or(0),
            1);
}

INSTANTIATE_TEST_SUITE_P(Kubelet, SeedScenario,
                         ::testing::Values(Layout::cgroupfs, Layout::systemd),
                         [](const auto& info) {
                           return info.param == Layout::cgroupfs ? std::string("Cgroupfs")
                                                                 : std::string("Systemd");
                         });

}  // namespace
}  // namespace ksight::test
