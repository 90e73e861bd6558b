#pragma once
// What a cgroup v2 path says about the workload in it, before any API is
// asked: the container id and runtime, the Kubernetes pod UID and QoS class
// the kubelet put in the path, or the systemd unit outside containers.
//
// The layouts recognised (docs/identity.md has the full table):
//   kubelet, cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>/<id>
//                             (CRI-O: .../pod<uid>/crio-<id>)
//   kubelet, systemd driver:  /kubepods.slice/kubepods-burstable.slice/
//                             kubepods-burstable-pod<uid_with_underscores>.slice/
//                             cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
//   Docker:  /docker/<id>, /system.slice/docker-<id>.scope
//   Podman:  /libpod_parent/libpod-<id>, /machine.slice/libpod-<id>.scope,
//            user.slice/.../libpod-<id>.scope
//   systemd: the innermost .service / .scope / .slice segment (nginx.service,
//            session-3.scope, user-1000.slice)
// Nested layouts (kind or k3s inside Docker) resolve to the innermost match.
#include <string>
#include <string_view>

namespace ksight::identity {

struct CgroupPathInfo {
  std::string container_id;  // 64 hex digits, lower case; empty outside a container
  std::string runtime;       // containerd, cri-o, docker, podman; empty when unknown
  std::string pod_uid;       // with dashes, as the API server writes it
  std::string qos;           // guaranteed, burstable, besteffort (Kubernetes only)
  std::string unit;          // systemd unit or slice, outside containers
  // The pod's own cgroup (or a container's parent) rather than a container:
  // the kubelet's pod<uid> level.
  bool pod_level = false;
};

// `path` is relative to the cgroup2 mount ("/" is the root).
CgroupPathInfo parse_cgroup_path(std::string_view path);

}  // namespace ksight::identity
