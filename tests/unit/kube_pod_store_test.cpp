// The pod store (expiry, bounds, container index), the workload heuristics
// and the pod JSON parser (issue 13).
#include "identity/pod_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "identity/pod_meta.h"
#include "support/fake_apiserver.h"

namespace ksight::identity {
namespace {

using namespace std::chrono_literals;
using Clock = PodStore::Clock;
using test::fake_container_id;
using test::FakeApiServer;
using test::FakePod;

PodMeta pod(const std::string& uid, std::vector<std::string> container_ids = {}) {
  PodMeta p;
  p.uid = uid;
  p.name = "pod-" + uid;
  p.ns = "default";
  p.node = "node-a";
  p.workload = p.name;
  p.workload_kind = "Pod";
  for (size_t i = 0; i < container_ids.size(); ++i)
    p.containers.push_back({container_ids[i], "c" + std::to_string(i)});
  return p;
}

TEST(PodStore, FindsPodsByUidAndByContainerId) {
  PodStore store;
  const auto t0 = Clock::now();
  const std::string id = fake_container_id(1);
  ASSERT_TRUE(store.upsert(pod("u1", {id, fake_container_id(2)}), t0));
  auto p = store.by_uid("u1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name, "pod-u1");
  auto c = store.by_container_id(id);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first.uid, "u1");
  EXPECT_EQ(c->second.name, "c0");
  // The runtime's prefix is accepted as well.
  EXPECT_TRUE(store.by_container_id("containerd://" + fake_container_id(2)));
  EXPECT_FALSE(store.by_container_id(fake_container_id(3)));
  EXPECT_FALSE(store.by_uid("u2"));
  EXPECT_EQ(store.size(), 1u);
}

TEST(PodStore, GenerationBumpsOnChangesOnly) {
  PodStore store;
  const auto t0 = Clock::now();
  const uint64_t g0 = store.generation();
  store.upsert(pod("u1", {fake_container_id(1)}), t0);
  const uint64_t g1 = store.generation();
  EXPECT_GT(g1, g0);
  store.upsert(pod("u1", {fake_container_id(1)}), t0);  // a status change ksight does not keep
  EXPECT_EQ(store.generation(), g1);
  store.upsert(pod("u1", {fake_container_id(2)}), t0);  // a container restarted
  EXPECT_GT(store.generation(), g1);
  // The index follows: the old id is gone, the new one resolves.
  EXPECT_FALSE(store.by_container_id(fake_container_id(1)));
  EXPECT_TRUE(store.by_container_id(fake_container_id(2)));
  const uint64_t g2 = store.generation();
  store.remove("u1", t0);
  EXPECT_GT(store.generation(), g2);
  const uint64_t g3 = store.generation();
  store.remove("nope", t0);
  EXPECT_EQ(store.generation(), g3);
}

TEST(PodStore, DeletedPodResolvesUntilItsTtl) {
  PodStore store({.max_pods = 16, .deleted_ttl = 5min});
  const auto t0 = Clock::now();
  store.upsert(pod("u1", {fake_container_id(1)}), t0);
  store.remove("u1", t0 + 1s);
  store.expire(t0 + 1s + 5min - 1s);
  auto p = store.by_uid("u1");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->deleted);
  auto c = store.by_container_id(fake_container_id(1));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->first.deleted);
  EXPECT_EQ(store.stats().deleted, 1u);
  store.expire(t0 + 1s + 5min);
  EXPECT_FALSE(store.by_uid("u1"));
  EXPECT_FALSE(store.by_container_id(fake_container_id(1)));
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.stats().expired, 1u);
  EXPECT_EQ(store.stats().bytes, 0u);
}

TEST(PodStore, PodBackAfterDeletionIsLiveAndDoesNotExpire) {
  PodStore store({.max_pods = 16, .deleted_ttl = 1min});
  const auto t0 = Clock::now();
  store.upsert(pod("u1"), t0);
  store.remove("u1", t0);
  store.upsert(pod("u1"), t0 + 1s);
  store.expire(t0 + 10min);
  ASSERT_TRUE(store.by_uid("u1"));
  EXPECT_FALSE(store.by_uid("u1")->deleted);
  EXPECT_EQ(store.stats().deleted, 0u);
}

TEST(PodStore, FullStoreDropsOldestDeletedThenRefusesNewPods) {
  PodStore store({.max_pods = 3, .deleted_ttl = 5min});
  const auto t0 = Clock::now();
  ASSERT_TRUE(store.upsert(pod("a"), t0));
  ASSERT_TRUE(store.upsert(pod("b"), t0));
  ASSERT_TRUE(store.upsert(pod("c"), t0));
  store.remove("b", t0 + 1s);
  store.remove("a", t0 + 2s);
  ASSERT_TRUE(store.upsert(pod("d"), t0 + 3s));  // evicts b, the first deleted
  EXPECT_FALSE(store.by_uid("b"));
  EXPECT_TRUE(store.by_uid("a"));
  ASSERT_TRUE(store.upsert(pod("e"), t0 + 3s));  // evicts a
  EXPECT_FALSE(store.by_uid("a"));
  EXPECT_FALSE(store.upsert(pod("f"), t0 + 3s));  // c, d, e are live: refused
  EXPECT_FALSE(store.by_uid("f"));
  EXPECT_TRUE(store.upsert(pod("c"), t0 + 3s));  // an update still goes in
  auto st = store.stats();
  EXPECT_EQ(st.live, 3u);
  EXPECT_EQ(st.evicted, 2u);
  EXPECT_EQ(st.refused, 1u);
  EXPECT_EQ(store.size(), 3u);
}

TEST(PodStore, ReplaceAllMarksUnlistedPodsDeleted) {
  PodStore store({.max_pods = 3, .deleted_ttl = 5min});
  const auto t0 = Clock::now();
  store.upsert(pod("a"), t0);
  store.upsert(pod("b"), t0);
  store.upsert(pod("c"), t0);
  // A relist: b and c died while nobody watched; d and e are new. The
  // deleted ones make room, oldest first.
  store.replace_all({pod("a"), pod("d"), pod("e")}, t0 + 1s);
  EXPECT_FALSE(store.by_uid("a")->deleted);
  EXPECT_TRUE(store.by_uid("d"));
  EXPECT_TRUE(store.by_uid("e"));
  EXPECT_EQ(store.stats().live, 3u);
  EXPECT_EQ(store.stats().refused, 0u);
  EXPECT_EQ(store.size(), 3u);
}

TEST(PodStore, ThousandLabelPodCostsWhatAPodWithoutLabelsCosts) {
  FakePod plain{.name = "api-7d9f8b6c5-x2x9q", .uid = "u1", .node = "node-a"};
  plain.labels["pod-template-hash"] = "7d9f8b6c5";
  plain.owners = {{"ReplicaSet", "api-7d9f8b6c5"}};
  plain.containers = {{"app", fake_container_id(1), ""}};
  FakePod labelled = plain;
  for (int i = 0; i < 1000; ++i)
    labelled.labels["example.com/label-" + std::to_string(i)] = std::string(60, 'v');
  auto doc = parse_kube_json(FakeApiServer::pod_json(labelled, 1));
  ASSERT_TRUE(doc);
  auto with_labels = pod_from_json(*doc);
  auto without = pod_from_json(*parse_kube_json(FakeApiServer::pod_json(plain, 1)));
  ASSERT_TRUE(with_labels && without);
  EXPECT_EQ(*with_labels, *without);
  EXPECT_EQ(with_labels->workload, "api");
  PodStore a, b;
  a.upsert(*with_labels, Clock::now());
  b.upsert(*without, Clock::now());
  EXPECT_EQ(a.stats().bytes, b.stats().bytes);
  EXPECT_LT(a.stats().bytes, 1024u);
}

TEST(KubeWorkload, ReplicaSetWithItsTemplateHashIsADeployment) {
  EXPECT_EQ(
      workload_of("api-7d9f8b6c5-x2x9q", ControllerRef{"ReplicaSet", "api-7d9f8b6c5"}, "7d9f8b6c5"),
      (Workload{"api", "Deployment"}));
  // No hash label, or a name that does not end in it: a bare ReplicaSet.
  EXPECT_EQ(workload_of("rs-x", ControllerRef{"ReplicaSet", "api-7d9f8b6c5"}, ""),
            (Workload{"api-7d9f8b6c5", "ReplicaSet"}));
  EXPECT_EQ(workload_of("rs-x", ControllerRef{"ReplicaSet", "frontend"}, "abc"),
            (Workload{"frontend", "ReplicaSet"}));
  EXPECT_EQ(workload_of("rs-x", ControllerRef{"ReplicaSet", "abc"}, "abc"),
            (Workload{"abc", "ReplicaSet"}));
  EXPECT_EQ(workload_of("rs-x", ControllerRef{"ReplicaSet", "xabc"}, "abc"),
            (Workload{"xabc", "ReplicaSet"}));
}

TEST(KubeWorkload, JobNamedWithAScheduledMinuteIsACronJob) {
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "backup-28391520"}, ""),
            (Workload{"backup", "CronJob"}));
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "db-backup-2839152012"}, ""),
            (Workload{"db-backup", "CronJob"}));
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "backup-1234567"}, ""),
            (Workload{"backup-1234567", "Job"}));
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "migrate-db"}, ""),
            (Workload{"migrate-db", "Job"}));
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "28391520"}, ""), (Workload{"28391520", "Job"}));
  EXPECT_EQ(workload_of("p", ControllerRef{"Job", "x28391520"}, ""),
            (Workload{"x28391520", "Job"}));
}

TEST(KubeWorkload, OtherControllersAsGivenAndNoControllerIsThePod) {
  for (const char* kind : {"StatefulSet", "DaemonSet", "ReplicationController", "Node"})
    EXPECT_EQ(workload_of("p-0", ControllerRef{kind, "db"}, "db"), (Workload{"db", kind}));
  EXPECT_EQ(workload_of("standalone", std::nullopt, ""), (Workload{"standalone", "Pod"}));
}

TEST(KubePodJson, ReadsARealShapedPod) {
  FakePod fp{.ns = "shop", .name = "backup-28391520-abcde", .uid = "u-1", .node = "node-a"};
  // An owner that is not the controller does not count.
  fp.owners = {{"ConfigMap", "cfg", false}, {"Job", "backup-28391520", true}};
  fp.init_containers = {{"init", fake_container_id(1), ""}};
  fp.containers = {{"main", fake_container_id(2), fake_container_id(3)}, {"waiting", "", ""}};
  fp.ephemeral_containers = {{"debugger", fake_container_id(4), ""}};
  auto doc = parse_kube_json(FakeApiServer::pod_json(fp, 42));
  ASSERT_TRUE(doc);
  auto p = pod_from_json(*doc);
  ASSERT_TRUE(p) << p.error();
  EXPECT_EQ(p->uid, "u-1");
  EXPECT_EQ(p->name, "backup-28391520-abcde");
  EXPECT_EQ(p->ns, "shop");
  EXPECT_EQ(p->node, "node-a");
  EXPECT_EQ(p->workload, "backup");
  EXPECT_EQ(p->workload_kind, "CronJob");
  EXPECT_FALSE(p->deleted);
  std::vector<ContainerMeta> want = {{fake_container_id(1), "init"},
                                     {fake_container_id(2), "main"},
                                     {fake_container_id(3), "main"},  // before its restart
                                     {fake_container_id(4), "debugger"}};
  EXPECT_EQ(p->containers, want);
}

TEST(KubePodJson, RejectsWhatIsNotAUsablePod) {
  auto no_uid = nlohmann::json::parse(R"({"metadata":{"name":"x"}})");
  ASSERT_FALSE(pod_from_json(no_uid));
  EXPECT_NE(pod_from_json(no_uid).error().find("uid"), std::string::npos);
  EXPECT_FALSE(pod_from_json(nlohmann::json::array()));
  EXPECT_FALSE(parse_kube_json("{\"type\":"));
}

TEST(KubePodJson, BoundsWhatItKeeps) {
  FakePod fp{.name = std::string(1000, 'n'), .uid = "u", .node = "node-a"};
  for (int i = 0; i < 500; ++i)
    fp.containers.push_back({"c" + std::to_string(i), fake_container_id(i), ""});
  auto p = pod_from_json(*parse_kube_json(FakeApiServer::pod_json(fp, 1)));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->name.size(), kMaxPodStringBytes);
  EXPECT_EQ(p->containers.size(), kMaxContainersPerPod);
}

TEST(KubePodJson, ParserDropsAnnotationsAndManagedFields) {
  auto doc = parse_kube_json(
      R"({"metadata":{"uid":"u","name":"n","annotations":{"big":"x"},"managedFields":[{"a":1}],)"
      R"("labels":{"k":"v"}}})");
  ASSERT_TRUE(doc);
  EXPECT_FALSE((*doc)["metadata"].contains("annotations"));
  EXPECT_FALSE((*doc)["metadata"].contains("managedFields"));
  EXPECT_EQ((*doc)["metadata"]["labels"]["k"], "v");
}

}  // namespace
}  // namespace ksight::identity
