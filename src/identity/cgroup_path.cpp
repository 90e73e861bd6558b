#include "identity/cgroup_path.h"

#include <array>
#include <utility>

namespace ksight::identity {
namespace {

bool is_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A pod UID as the kubelet writes it in a path: 8-4-4-4-12 hex digits,
// separated by '-' (cgroupfs) or '_' (systemd, where '-' nests slices).
bool parse_pod_uid(std::string_view s, std::string* out) {
  if (s.size() != 36) return false;
  std::string uid(s);
  for (size_t i = 0; i < uid.size(); ++i) {
    const bool sep = i == 8 || i == 13 || i == 18 || i == 23;
    if (sep) {
      if (uid[i] != '-' && uid[i] != '_') return false;
      uid[i] = '-';
    } else if (!is_hex(uid.substr(i, 1))) {
      return false;
    }
  }
  *out = std::move(uid);
  return true;
}

// "pod<uid>" (cgroupfs) or "kubepods[-<qos>]-pod<uid>.slice" (systemd).
bool pod_segment(std::string_view seg, std::string* uid) {
  if (seg.starts_with("pod")) return parse_pod_uid(seg.substr(3), uid);
  if (!seg.starts_with("kubepods") || !ends_with(seg, ".slice")) return false;
  seg.remove_suffix(6);
  const size_t at = seg.rfind("-pod");
  return at != std::string_view::npos && parse_pod_uid(seg.substr(at + 4), uid);
}

struct RuntimePrefix {
  std::string_view prefix;
  std::string_view runtime;
};
// Longest first: "crio-conmon-" before "crio-".
constexpr std::array kPrefixes = {RuntimePrefix{"cri-containerd-", "containerd"},
                                  RuntimePrefix{"crio-conmon-", "cri-o"},
                                  RuntimePrefix{"crio-", "cri-o"},
                                  RuntimePrefix{"docker-", "docker"},
                                  RuntimePrefix{"libpod-conmon-", "podman"},
                                  RuntimePrefix{"libpod-", "podman"},
                                  RuntimePrefix{"containerd-", "containerd"}};

// A container's own segment: a bare 64-hex id, or <prefix><id>[.scope].
bool container_segment(std::string_view seg, std::string_view parent, CgroupPathInfo* info) {
  if (ends_with(seg, ".scope")) seg.remove_suffix(6);
  std::string_view runtime;
  for (const auto& p : kPrefixes) {
    if (seg.starts_with(p.prefix)) {
      seg.remove_prefix(p.prefix.size());
      runtime = p.runtime;
      break;
    }
  }
  if (seg.size() != 64 || !is_hex(seg)) return false;
  // A bare id says nothing of its runtime, except under Docker's own parent.
  if (runtime.empty() && parent == "docker") runtime = "docker";
  info->container_id = seg;
  info->runtime = runtime;
  return true;
}

std::string_view qos_of(std::string_view seg) {
  if (seg == "burstable" || seg == "kubepods-burstable.slice") return "burstable";
  if (seg == "besteffort" || seg == "kubepods-besteffort.slice") return "besteffort";
  return {};
}

bool is_unit(std::string_view seg) {
  return ends_with(seg, ".service") || ends_with(seg, ".scope") || ends_with(seg, ".slice");
}

}  // namespace

CgroupPathInfo parse_cgroup_path(std::string_view path) {
  CgroupPathInfo info;
  bool in_kube = false;
  std::string_view parent;
  std::string_view unit;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (seg.empty()) continue;
    std::string uid;
    if (seg == "kubepods" || seg == "kubepods.slice") {
      // A Kubernetes hierarchy (again, when nested in a container): what an
      // outer container said no longer applies.
      info = {};
      in_kube = true;
      info.qos = "guaranteed";
    } else if (in_kube && !qos_of(seg).empty() && info.pod_uid.empty()) {
      info.qos = qos_of(seg);
    } else if (in_kube && pod_segment(seg, &uid)) {
      info.pod_uid = std::move(uid);
      info.pod_level = true;
      info.container_id.clear();
      info.runtime.clear();
    } else if (info.container_id.empty() && container_segment(seg, parent, &info)) {
      info.pod_level = false;
    } else if (info.container_id.empty() && info.pod_uid.empty() && is_unit(seg)) {
      unit = seg;
    }
    parent = seg;
  }
  if (info.container_id.empty() && info.pod_uid.empty()) info.unit = unit;
  if (!in_kube) info.qos.clear();
  return info;
}

}  // namespace ksight::identity
