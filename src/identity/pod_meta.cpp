#include "identity/pod_meta.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace ksight::identity {

namespace {

bool ends_with_dash_suffix(std::string_view name, std::string_view suffix) {
  return !suffix.empty() && name.size() > suffix.size() + 1 && name.ends_with(suffix) &&
         name[name.size() - suffix.size() - 1] == '-';
}

// Length of the run of digits at the end of `name` when it follows a '-'.
size_t dash_digit_suffix(std::string_view name) {
  size_t digits = 0;
  while (digits < name.size() &&
         std::isdigit(static_cast<unsigned char>(name[name.size() - 1 - digits])))
    ++digits;
  if (digits == 0 || digits + 1 >= name.size() || name[name.size() - 1 - digits] != '-') return 0;
  return digits;
}

std::string bounded(std::string_view s) {
  return std::string(s.substr(0, kMaxPodStringBytes));
}

// A string member of a JSON object, or "" when it is absent or not a string.
std::string_view string_at(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

void add_container(PodMeta& pod, std::string_view id, std::string_view name) {
  id = strip_runtime_prefix(id);
  // A container not started yet has no id; nothing can be attributed to it.
  if (id.empty() || pod.containers.size() >= kMaxContainersPerPod) return;
  for (const auto& c : pod.containers)
    if (c.id == id) return;
  pod.containers.push_back({bounded(id), bounded(name)});
}

void add_statuses(PodMeta& pod, const nlohmann::json& statuses) {
  if (!statuses.is_array()) return;
  for (const auto& st : statuses) {
    auto name = string_at(st, "name");
    add_container(pod, string_at(st, "containerID"), name);
    add_container(pod, string_at(member(member(st, "lastState"), "terminated"), "containerID"),
                  name);
  }
}

}  // namespace

Workload workload_of(std::string_view pod_name, std::optional<ControllerRef> controller,
                     std::string_view pod_template_hash) {
  if (!controller || controller->name.empty()) return {bounded(pod_name), "Pod"};
  auto [kind, name] = *controller;
  if (kind == "ReplicaSet" && ends_with_dash_suffix(name, pod_template_hash)) {
    // The Deployment controller names its ReplicaSets <deployment>-<pod-template-hash>.
    return {bounded(name.substr(0, name.size() - pod_template_hash.size() - 1)), "Deployment"};
  }
  if (kind == "Job") {
    // The CronJob controller names its Jobs <cronjob>-<scheduled time in
    // minutes since the epoch>: 8 digits since 1989.
    size_t digits = dash_digit_suffix(name);
    if (digits >= 8) return {bounded(name.substr(0, name.size() - digits - 1)), "CronJob"};
  }
  return {bounded(name), bounded(kind)};
}

std::string_view strip_runtime_prefix(std::string_view container_id) {
  auto sep = container_id.find("://");
  return sep == std::string_view::npos ? container_id : container_id.substr(sep + 3);
}

std::expected<PodMeta, std::string> pod_from_json(const nlohmann::json& pod) {
  if (!pod.is_object()) return std::unexpected("a pod is not a JSON object");
  const auto& meta = member(pod, "metadata");
  PodMeta out;
  out.uid = bounded(string_at(meta, "uid"));
  out.name = bounded(string_at(meta, "name"));
  out.ns = bounded(string_at(meta, "namespace"));
  if (out.uid.empty()) return std::unexpected("a pod has no metadata.uid");
  if (out.name.empty()) return std::unexpected("pod " + out.uid + " has no metadata.name");
  out.node = bounded(string_at(member(pod, "spec"), "nodeName"));

  std::optional<ControllerRef> controller;
  const auto& owners = member(meta, "ownerReferences");
  if (owners.is_array()) {
    for (const auto& o : owners) {
      const auto& is_controller = member(o, "controller");
      if (is_controller.is_boolean() && is_controller.get<bool>()) {
        controller = ControllerRef{string_at(o, "kind"), string_at(o, "name")};
        break;
      }
    }
  }
  auto workload =
      workload_of(out.name, controller, string_at(member(meta, "labels"), "pod-template-hash"));
  out.workload = std::move(workload.name);
  out.workload_kind = std::move(workload.kind);

  const auto& status = member(pod, "status");
  add_statuses(out, member(status, "initContainerStatuses"));
  add_statuses(out, member(status, "containerStatuses"));
  add_statuses(out, member(status, "ephemeralContainerStatuses"));
  return out;
}

std::expected<nlohmann::json, std::string> parse_kube_json(std::string_view text) {
  // Kubernetes puts these only in object metadata: dropping the keys
  // wherever they appear drops nothing ksight reads.
  auto drop_unread = [](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (event != nlohmann::json::parse_event_t::key) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    return key != "annotations" && key != "managedFields";
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), drop_unread);
  } catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string(e.what()));
  }
}

}  // namespace ksight::identity
