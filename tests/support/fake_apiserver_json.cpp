// The JSON documents of the fake API server, shaped as a real one's
// (Kubernetes 1.35): pods, Status objects and discovery.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "support/fake_apiserver.h"

namespace ksight::test {

namespace {

using nlohmann::json;

constexpr const char* kCreated = "2025-01-01T00:00:00Z";
constexpr const char* kImage = "registry.k8s.io/pause:3.10";
constexpr const char* kImageId =
    "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a";

std::string owner_api_version(const std::string& kind) {
  if (kind == "ReplicaSet" || kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet")
    return "apps/v1";
  if (kind == "Job" || kind == "CronJob") return "batch/v1";
  return "v1";
}

json container_spec(const FakeContainer& c) {
  return {{"name", c.name},
          {"image", kImage},
          {"resources", json::object()},
          {"terminationMessagePath", "/dev/termination-log"},
          {"terminationMessagePolicy", "File"},
          {"imagePullPolicy", "IfNotPresent"}};
}

json container_status(const FakeContainer& c, bool init) {
  json st = {{"name", c.name},
             {"image", kImage},
             {"imageID", c.id.empty() ? "" : kImageId},
             {"restartCount", c.previous_id.empty() ? 0 : 1},
             {"lastState", json::object()}};
  if (c.id.empty()) {
    st["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
    st["ready"] = false;
    st["started"] = false;
  } else {
    st["containerID"] = "containerd://" + c.id;
    st["ready"] = !init;
    st["started"] = !init;
    if (init) {
      st["state"] = {{"terminated",
                      {{"exitCode", 0},
                       {"reason", "Completed"},
                       {"startedAt", kCreated},
                       {"finishedAt", kCreated},
                       {"containerID", "containerd://" + c.id}}}};
    } else {
      st["state"] = {{"running", {{"startedAt", kCreated}}}};
    }
  }
  if (!c.previous_id.empty()) {
    st["lastState"] = {{"terminated",
                        {{"exitCode", 1},
                         {"reason", "Error"},
                         {"startedAt", kCreated},
                         {"finishedAt", kCreated},
                         {"containerID", "containerd://" + c.previous_id}}}};
  }
  return st;
}

}  // namespace

std::string fake_container_id(uint64_t seed) {
  std::string id;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  while (id.size() < 64) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(x));
    id += buf;
  }
  return id;
}

std::string FakeApiServer::pod_json(const FakePod& pod, uint64_t rv, bool deleting) {
  json meta = {{"name", pod.name},
               {"namespace", pod.ns},
               {"uid", pod.uid},
               {"resourceVersion", std::to_string(rv)},
               {"creationTimestamp", kCreated}};
  if (!pod.labels.empty()) meta["labels"] = pod.labels;
  if (!pod.owners.empty()) {
    json owners = json::array();
    for (const auto& o : pod.owners) {
      owners.push_back({{"apiVersion", owner_api_version(o.kind)},
                        {"kind", o.kind},
                        {"name", o.name},
                        {"uid", "owner-" + o.name},
                        {"controller", o.controller},
                        {"blockOwnerDeletion", true}});
    }
    meta["ownerReferences"] = owners;
  }
  if (deleting) {
    meta["deletionTimestamp"] = kCreated;
    meta["deletionGracePeriodSeconds"] = 0;
  }
  json spec = {{"nodeName", pod.node},
               {"restartPolicy", "Always"},
               {"terminationGracePeriodSeconds", 30},
               {"dnsPolicy", "ClusterFirst"},
               {"serviceAccountName", "default"},
               {"schedulerName", "default-scheduler"},
               {"containers", json::array()}};
  for (const auto& c : pod.containers) spec["containers"].push_back(container_spec(c));
  for (const auto& c : pod.init_containers) spec["initContainers"].push_back(container_spec(c));
  json status = {{"phase", pod.phase},
                 {"hostIP", "10.0.0.10"},
                 {"podIP", "10.244.0.10"},
                 {"startTime", kCreated},
                 {"qosClass", "BestEffort"}};
  for (const auto& c : pod.containers)
    status["containerStatuses"].push_back(container_status(c, false));
  for (const auto& c : pod.init_containers)
    status["initContainerStatuses"].push_back(container_status(c, true));
  for (const auto& c : pod.ephemeral_containers)
    status["ephemeralContainerStatuses"].push_back(container_status(c, false));
  return json{
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", spec}, {"status", status}}
      .dump();
}

namespace fake_json {

std::string status(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}}
      .dump();
}

std::string discovery(const std::string& path, uint16_t port) {
  if (path == "/api") {
    return json{
        {"kind", "APIVersions"},
        {"versions", {"v1"}},
        {"serverAddressByClientCIDRs",
         {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:" + std::to_string(port)}}}}}
        .dump();
  }
  if (path == "/apis")
    return json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", json::array()}}.dump();
  if (path == "/api/v1") {
    json pods = {{"name", "pods"},
                 {"singularName", "pod"},
                 {"namespaced", true},
                 {"kind", "Pod"},
                 {"verbs", {"get", "list", "watch"}},
                 {"shortNames", {"po"}},
                 {"categories", {"all"}}};
    return json{{"kind", "APIResourceList"},
                {"apiVersion", "v1"},
                {"groupVersion", "v1"},
                {"resources", {pods}}}
        .dump();
  }
  if (path == "/version") {
    return json{{"major", "1"},
                {"minor", "35"},
                {"gitVersion", "v1.35.0-ksight-fake"},
                {"platform", "linux/amd64"}}
        .dump();
  }
  return "";
}

}  // namespace fake_json

}  // namespace ksight::test
