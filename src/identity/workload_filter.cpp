#include "identity/workload_filter.h"

#include "runtime/cgroup.h"

namespace ksight::identity {

std::expected<WorkloadSelector, std::string> WorkloadSelector::from_flags(
    const std::string& ns, const std::string& pod, const std::string& container,
    const std::string& unit) {
  WorkloadSelector s{.ns = ns, .container = container, .unit = unit};
  if (const size_t slash = pod.find('/'); slash != std::string::npos) {
    s.pod_ns = pod.substr(0, slash);
    s.pod = pod.substr(slash + 1);
    if (s.pod_ns.empty() || s.pod.empty() || s.pod.find('/') != std::string::npos) {
      return std::unexpected("--pod: expected NAMESPACE/NAME, a name or a UID, got '" + pod + "'");
    }
  } else {
    s.pod = pod;
  }
  if (unit.find('/') != std::string::npos) {
    return std::unexpected("--unit: expected a unit name such as nginx.service, got '" + unit +
                           "'");
  }
  return s;
}

bool WorkloadSelector::matches(const Identity& id) const {
  const auto& p = id.parsed;
  if (!ns.empty() && id.ns != ns) return false;
  if (!pod_ns.empty() && id.ns != pod_ns) return false;
  if (!pod.empty() && id.pod != pod && p.pod_uid != pod) return false;
  if (!container.empty() && id.container != container &&
      !(container.size() >= 12 && p.container_id.starts_with(container))) {
    return false;
  }
  if (!unit.empty()) {
    // The unit or slice itself, or any cgroup below it.
    const std::string seg = "/" + unit;
    const size_t at = id.path.find(seg);
    if (at == std::string::npos) return false;
    const size_t end = at + seg.size();
    if (end != id.path.size() && id.path[end] != '/') return false;
  }
  return true;
}

std::string WorkloadSelector::describe() const {
  std::string out;
  auto add = [&](const std::string& flag, const std::string& v) {
    if (v.empty()) return;
    out += (out.empty() ? "" : " ") + flag + " " + v;
  };
  add("--namespace", ns);
  add("--pod", pod_ns.empty() ? pod : pod_ns + "/" + pod);
  add("--container", container);
  add("--unit", unit);
  return out;
}

std::set<uint64_t> matching_cgroups(const WorkloadSelector& sel, Resolver& resolver, size_t limit) {
  std::set<uint64_t> out;
  for (const auto& [id, path] : runtime::cgroup_paths()) {
    if (out.size() >= limit) break;
    if (sel.matches(*resolver.resolve(id))) out.insert(id);
  }
  return out;
}

}  // namespace ksight::identity
