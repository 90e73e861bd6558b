// cgroup path -> workload identity, and metrics labelled by it.
#include <gtest/gtest.h>

#include <map>

#include "core/registry.h"
#include "identity/cgroup_path.h"
#include "identity/pod_store.h"
#include "identity/resolver.h"
#include "identity/workload_filter.h"

namespace ksight::identity {
namespace {

const std::string kId(64, 'a');
const std::string kId2 = std::string(63, 'b') + "c";
const std::string kUid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const std::string kUidSystemd = "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0";

TEST(CgroupPath, KubeletCgroupfsLayouts) {
  auto b = parse_cgroup_path("/kubepods/burstable/pod" + kUid + "/" + kId);
  EXPECT_EQ(b.container_id, kId);
  EXPECT_EQ(b.pod_uid, kUid);
  EXPECT_EQ(b.qos, "burstable");
  EXPECT_EQ(b.runtime, "");
  EXPECT_EQ(b.unit, "");
  EXPECT_FALSE(b.pod_level);
  auto g = parse_cgroup_path("/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.pod_uid, kUid);
  auto e = parse_cgroup_path("/kubepods/besteffort/pod" + kUid + "/crio-" + kId);
  EXPECT_EQ(e.qos, "besteffort");
  EXPECT_EQ(e.runtime, "cri-o");
  EXPECT_EQ(e.container_id, kId);
  auto pod = parse_cgroup_path("/kubepods/burstable/pod" + kUid);
  EXPECT_TRUE(pod.pod_level);
  EXPECT_EQ(pod.container_id, "");
  EXPECT_EQ(pod.pod_uid, kUid);
}

TEST(CgroupPath, KubeletSystemdLayouts) {
  const std::string pod =
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidSystemd + ".slice/";
  auto c = parse_cgroup_path(pod + "cri-containerd-" + kId + ".scope");
  EXPECT_EQ(c.container_id, kId);
  EXPECT_EQ(c.runtime, "containerd");
  EXPECT_EQ(c.pod_uid, kUid) << "underscores become dashes";
  EXPECT_EQ(c.qos, "burstable");
  EXPECT_EQ(parse_cgroup_path(pod + "crio-" + kId + ".scope").runtime, "cri-o");
  EXPECT_EQ(parse_cgroup_path(pod + "docker-" + kId + ".scope").runtime, "docker");
  auto g = parse_cgroup_path("/kubepods.slice/kubepods-pod" + kUidSystemd + ".slice/crio-" + kId +
                             ".scope");
  EXPECT_EQ(g.qos, "guaranteed");
  EXPECT_EQ(g.pod_uid, kUid);
  // A process in a sub-cgroup of the container is still the container.
  auto sub = parse_cgroup_path(pod + "cri-containerd-" + kId + ".scope/init");
  EXPECT_EQ(sub.container_id, kId);
}

TEST(CgroupPath, DockerPodmanAndNesting) {
  auto d = parse_cgroup_path("/docker/" + kId);
  EXPECT_EQ(d.container_id, kId);
  EXPECT_EQ(d.runtime, "docker");
  EXPECT_EQ(parse_cgroup_path("/system.slice/docker-" + kId + ".scope").runtime, "docker");
  EXPECT_EQ(parse_cgroup_path("/system.slice/docker-" + kId + ".scope").unit, "");
  EXPECT_EQ(parse_cgroup_path("/libpod_parent/libpod-" + kId).runtime, "podman");
  auto p = parse_cgroup_path("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
                             kId + ".scope");
  EXPECT_EQ(p.runtime, "podman");
  EXPECT_EQ(p.container_id, kId);
  // kind: a node in a Docker container; the pod inside wins.
  auto kind = parse_cgroup_path("/docker/" + kId + "/kubepods/besteffort/pod" + kUid + "/" + kId2);
  EXPECT_EQ(kind.container_id, kId2);
  EXPECT_EQ(kind.pod_uid, kUid);
  EXPECT_EQ(kind.qos, "besteffort");
}

TEST(CgroupPath, SystemdUnitsAndUnknownPaths) {
  EXPECT_EQ(parse_cgroup_path("/system.slice/nginx.service").unit, "nginx.service");
  EXPECT_EQ(parse_cgroup_path("/user.slice/user-1000.slice/session-3.scope").unit,
            "session-3.scope");
  EXPECT_EQ(parse_cgroup_path("/user.slice/user-1000.slice").unit, "user-1000.slice");
  auto odd = parse_cgroup_path("/my/own/tree");
  EXPECT_EQ(odd.unit, "");
  EXPECT_EQ(odd.container_id, "");
  // Almost an id: 63 hex digits, or not hex.
  EXPECT_EQ(parse_cgroup_path("/docker/" + kId.substr(1)).container_id, "");
  EXPECT_EQ(parse_cgroup_path("/docker/" + std::string(64, 'g')).container_id, "");
  EXPECT_EQ(parse_cgroup_path("/kubepods/burstable/podnot-a-uid/" + kId).pod_uid, "");
  EXPECT_EQ(parse_cgroup_path("/").unit, "");
}

TEST(Resolver, LabelsFromPathThenFromThePodStore) {
  PodStore pods;
  std::map<uint64_t, std::string> paths = {{10, "/kubepods/burstable/pod" + kUid + "/" + kId},
                                           {11, "/system.slice/nginx.service"},
                                           {12, "/my/own/tree"},
                                           {1, "/"}};
  Resolver r({.pods = &pods, .lookup_path = [&](uint64_t id) {
                auto it = paths.find(id);
                return it == paths.end() ? std::string() : it->second;
              }});
  auto values = [&](uint64_t id) {
    std::vector<std::string> out;
    r.expand(std::to_string(id), out);
    return out;
  };
  ASSERT_EQ(r.expanded_names().size(), 6u);
  EXPECT_EQ(r.expanded_names()[0], "namespace");
  // The watch does not know the pod yet: pod UID and short id stand in.
  EXPECT_EQ(values(10), (std::vector<std::string>{"", kUid, kId.substr(0, 12), "", "", ""}));
  EXPECT_EQ(r.unresolved(Unresolved::pod_unknown), 1u);
  EXPECT_EQ(values(11), (std::vector<std::string>{"", "", "", "", "", "nginx.service"}));
  EXPECT_EQ(values(12), (std::vector<std::string>{"", "", "", "", "", "/my/own/tree"}));
  EXPECT_EQ(r.unresolved(Unresolved::unknown_path), 1u);
  EXPECT_EQ(values(99), (std::vector<std::string>{"", "", "", "", "", "cgroup_id:99"}));
  EXPECT_EQ(r.unresolved(Unresolved::cgroup_gone), 1u);
  // The pod arrives: the next lookup joins it, without asking for the path again.
  ASSERT_TRUE(pods.upsert({.uid = kUid,
                           .name = "api-7d9f-x2k4",
                           .ns = "payments",
                           .node = "n1",
                           .workload = "api",
                           .workload_kind = "Deployment",
                           .containers = {{kId, "server"}}}));
  paths.erase(10);
  EXPECT_EQ(values(10), (std::vector<std::string>{"payments", "api-7d9f-x2k4", "server", "api",
                                                  "Deployment", ""}));
  auto ev = r.event_labels(10);
  ASSERT_EQ(ev->pairs.size(), 5u) << "empty labels are left out of events";
  EXPECT_EQ(ev->pairs[1].first, "pod");
  EXPECT_EQ(ev->pairs[1].second, "api-7d9f-x2k4");
}

TEST(Resolver, GoneCgroupsKeepTheirNameForTheGracePeriodOnly) {
  std::map<uint64_t, std::string> paths = {{10, "/system.slice/a.service"}};
  Resolver r({.gone_grace_ns = 1000, .lookup_path = [&](uint64_t id) {
                auto it = paths.find(id);
                return it == paths.end() ? std::string() : it->second;
              }});
  EXPECT_EQ(r.resolve(10)->values[static_cast<size_t>(Label::unit)], "a.service");
  paths.clear();
  r.sweep(5000, [](uint64_t) { return false; });
  EXPECT_EQ(r.cached(), 1u);
  EXPECT_EQ(r.resolve(10)->values[static_cast<size_t>(Label::unit)], "a.service");
  r.sweep(7000, [](uint64_t) { return false; });
  EXPECT_EQ(r.cached(), 0u);
}

// Two source values (cgroups) on one series, and a value that moves.
class MapExpander final : public core::LabelExpander {
 public:
  std::string_view source_label() const override { return core::kCgroupLabel; }
  std::span<const std::string> expanded_names() const override { return names; }
  void expand(std::string_view v, std::vector<std::string>& out) override {
    out = {to.at(std::string(v))};
  }
  std::vector<std::string> names = {"pod"};
  std::map<std::string, std::string> to;
};

TEST(RegistryExpansion, CgroupsSharingASeriesAddUpAndNeverGoBack) {
  MapExpander ex;
  ex.to = {{"1", "api"}, {"2", "api"}, {"3", "db"}};
  core::Registry reg({.expander = &ex});
  auto id = reg.add({.name = "t_total", .help = "h", .label_names = {"cgroup_id", "state"}});
  auto value = [&](uint64_t now, const std::string& pod) {
    for (const auto& f : reg.collect(now)) {
      if (f.desc->name != "t_total") continue;
      EXPECT_EQ(f.desc->label_names, (std::vector<std::string>{"pod", "state"}));
      for (const auto& s : f.series)
        if (s.labels[0] == pod) return s.value;
    }
    return -1.0;
  };
  {
    auto w = reg.write(1);
    w.set(id, {core::CgroupKey(1), "x"}, 10);
    w.set(id, {core::CgroupKey(2), "x"}, 5);
  }
  EXPECT_EQ(value(1, "api"), 15);
  {
    auto w = reg.write(2);
    w.set(id, {core::CgroupKey(1), "x"}, 12);  // cgroup 2 was pruned: keeps its 5
  }
  EXPECT_EQ(value(2, "api"), 17);
  {
    auto w = reg.write(3);
    w.set(id, {core::CgroupKey(2), "x"}, 1);  // a new cgroup 2 (map entry re-created)
  }
  EXPECT_EQ(value(3, "api"), 18);
  ex.to["1"] = "db";  // its pod's metadata changed: the old series keeps its share
  {
    auto w = reg.write(4);
    w.set(id, {core::CgroupKey(1), "x"}, 13);
    w.set(id, {core::CgroupKey(3), "x"}, 1);
  }
  EXPECT_EQ(value(4, "api"), 18);
  EXPECT_EQ(value(4, "db"), 14);
  {
    auto w = reg.write(5);
    w.add(id, {core::CgroupKey(3), "x"}, 2);  // events add as usual
  }
  EXPECT_EQ(value(5, "db"), 16);
}

TEST(RegistryExpansion, KernelHistogramsOfOnePodAddUp) {
  MapExpander ex;
  ex.to = {{"1", "api"}, {"2", "api"}};
  core::Registry reg({.expander = &ex});
  auto id = reg.add({.name = "h_seconds",
                     .help = "h",
                     .kind = core::MetricKind::histogram,
                     .label_names = {"cgroup_id"},
                     .bounds = {1, 2}});
  {
    auto w = reg.write(1);
    std::vector<uint64_t> a = {1, 2, 3}, b = {4, 0, 1};
    // The keys own the text the label views point into: they must outlive the writes.
    const core::CgroupKey k1(1), k2(2);
    std::string_view l1[] = {k1}, l2[] = {k2};
    w.set_histogram(id, l1, a, 10);
    w.set_histogram(id, l2, b, 5);
  }
  for (const auto& f : reg.collect(1)) {
    if (f.desc->name != "h_seconds") continue;
    ASSERT_EQ(f.series.size(), 1u);
    EXPECT_EQ(f.series[0].buckets, (std::vector<uint64_t>{5, 2, 4}));
    EXPECT_EQ(f.series[0].count, 11u);
    EXPECT_EQ(f.series[0].sum, 15);
  }
}

}  // namespace
}  // namespace ksight::identity

namespace ksight::identity {
namespace {

Identity identity_at(std::string path, std::string ns = "", std::string pod = "",
                     std::string container = "") {
  Identity id;
  id.path = std::move(path);
  id.parsed = parse_cgroup_path(id.path);
  id.ns = std::move(ns);
  id.pod = pod.empty() ? id.parsed.pod_uid : std::move(pod);
  id.container = container.empty() ? id.parsed.container_id.substr(0, 12) : std::move(container);
  return id;
}

TEST(WorkloadSelector, MatchesByNamespacePodContainerAndUnit) {
  const auto in_pod =
      identity_at("/kubepods/burstable/pod" + kUid + "/" + kId, "payments", "api-1", "server");
  auto sel = [](std::string ns, std::string pod, std::string c, std::string unit) {
    return *WorkloadSelector::from_flags(ns, pod, c, unit);
  };
  EXPECT_TRUE(sel("payments", "", "", "").matches(in_pod));
  EXPECT_FALSE(sel("default", "", "", "").matches(in_pod));
  EXPECT_TRUE(sel("", "payments/api-1", "", "").matches(in_pod));
  EXPECT_FALSE(sel("", "default/api-1", "", "").matches(in_pod));
  EXPECT_TRUE(sel("", kUid, "", "").matches(in_pod)) << "a pod by UID, without the API";
  EXPECT_TRUE(sel("", "api-1", "server", "").matches(in_pod));
  EXPECT_FALSE(sel("", "api-1", "sidecar", "").matches(in_pod));
  EXPECT_TRUE(sel("", "", kId.substr(0, 12), "").matches(in_pod)) << "a container by id prefix";
  EXPECT_FALSE(sel("", "", kId.substr(0, 6), "").matches(in_pod)) << "too short to be an id";
  const auto svc = identity_at("/system.slice/nginx.service");
  const auto below = identity_at("/user.slice/user-1000.slice/session-3.scope");
  EXPECT_TRUE(sel("", "", "", "nginx.service").matches(svc));
  EXPECT_FALSE(sel("", "", "", "nginx").matches(svc)) << "whole units only";
  EXPECT_TRUE(sel("", "", "", "user-1000.slice").matches(below)) << "what runs below a slice";
  EXPECT_FALSE(sel("", "", "", "user-1000.slice").matches(svc));
  EXPECT_FALSE(WorkloadSelector::from_flags("", "a/b/c", "", "").has_value());
  EXPECT_FALSE(WorkloadSelector::from_flags("", "/x", "", "").has_value());
  EXPECT_FALSE(WorkloadSelector::from_flags("", "", "", "a/b.service").has_value());
  EXPECT_EQ(sel("", "payments/api-1", "server", "").describe(),
            "--pod payments/api-1 --container server");
}

}  // namespace
}  // namespace ksight::identity
