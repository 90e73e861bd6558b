#pragma once
// What ksight keeps of a Kubernetes pod, and how it is read out of the API
// server's JSON. Only what names a workload is kept: no labels, annotations
// or spec, so a pod with a thousand labels costs what a pod with none does.
// Every string and list kept is bounded, whatever the server sends.
#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ksight::identity {

struct ContainerMeta {
  std::string id;  // the runtime's id without "containerd://", "cri-o://", "docker://"
  std::string name;
  bool operator==(const ContainerMeta&) const = default;
};

struct PodMeta {
  std::string uid, name, ns, node;
  // The controller the pod belongs to, e.g. "api" and "Deployment"; a pod
  // without a controller: its own name and "Pod".
  std::string workload, workload_kind;
  // containerStatuses, initContainerStatuses and ephemeralContainerStatuses,
  // plus the previous container of one that restarted (lastState.terminated),
  // so events of a container that just died still find their pod.
  std::vector<ContainerMeta> containers;
  bool deleted = false;
  bool operator==(const PodMeta&) const = default;
};

// Longest string kept from a pod: Kubernetes names are DNS subdomains of at
// most 253 characters; anything longer is cut.
inline constexpr size_t kMaxPodStringBytes = 253;
// Containers kept per pod (statuses of every kind, previous ones included).
inline constexpr size_t kMaxContainersPerPod = 128;

struct Workload {
  std::string name, kind;
  bool operator==(const Workload&) const = default;
};

// The controller ownerReference (controller: true) of a pod, if it has one.
struct ControllerRef {
  std::string_view kind, name;
};

// The workload a pod belongs to, from its controller reference alone: the
// agent may read pods only, never ReplicaSets or Jobs, so their owners are
// inferred from the names their controllers give them.
//   ReplicaSet "api-7d9f8b6c5" + label pod-template-hash=7d9f8b6c5 -> Deployment "api"
//   Job "backup-28391520" (a run of >= 8 digits: CronJob's scheduled minute) -> CronJob "backup"
//   StatefulSet, DaemonSet, ReplicationController, anything else: as given
//   no controller: the pod itself, kind "Pod"
Workload workload_of(std::string_view pod_name, std::optional<ControllerRef> controller,
                     std::string_view pod_template_hash);

// "containerd://abc" -> "abc"; an id without a scheme is returned as is.
std::string_view strip_runtime_prefix(std::string_view container_id);

// A PodMeta from a Pod object as the API server sends it (a PodList item or
// a watch event's object). An error names what is missing (no uid, ...).
std::expected<PodMeta, std::string> pod_from_json(const nlohmann::json& pod);

// Parses one JSON document, dropping what ksight never reads (annotations,
// managedFields) while parsing, so they cost no memory. An error is
// nlohmann's one-line message.
std::expected<nlohmann::json, std::string> parse_kube_json(std::string_view text);

}  // namespace ksight::identity
