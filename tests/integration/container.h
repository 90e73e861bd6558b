#pragma once
// Real containers for the integration tests: runc runs a host binary in its
// own pid, mount, ipc and uts namespaces (and in a network namespace the test
// names) inside the cgroup path a kubelet would have made, so tests see the
// cgroups of a Kubernetes node without a kubelet, a CRI runtime or an image.
//
// runc's cgroupfs driver takes the cgroups path literally, in every mounted
// hierarchy: each v1 controller and the v2 one (on a hybrid host both, and it
// puts the process in all of them). So the systemd driver's layout
// (kubepods.slice/.../cri-containerd-<id>.scope) is reproduced without systemd.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace ksight::test {

// Why containers cannot run here (not root, no runc, no static busybox, no
// cgroup v2 hierarchy), or nullopt.
std::optional<std::string> runc_unavailable_reason();

// Skips the test when containers cannot run; under KSIGHT_REQUIRE_BPF=1 fails
// it instead, like KSIGHT_REQUIRE_BPF.
#define KSIGHT_REQUIRE_RUNC()                                                            \
  do {                                                                                   \
    if (auto why = ::ksight::test::runc_unavailable_reason()) {                          \
      if (::ksight::test::bpf_required()) FAIL() << "KSIGHT_REQUIRE_BPF=1 but " << *why; \
      GTEST_SKIP() << *why;                                                              \
    }                                                                                    \
  } while (0)

// 64 lowercase hex digits, as containerd and CRI-O name containers.
std::string random_container_id();
// A random RFC 4122 version 4 UUID, as the API server gives pods.
std::string random_pod_uid();

// The cgroup the kubelet's cgroupfs driver gives a container:
// /kubepods[/<qos>]/pod<uid>/<id>, no QoS level for "guaranteed".
std::string kubepods_cgroupfs_path(const std::string& qos, const std::string& pod_uid,
                                   const std::string& container_id);
// The one its systemd driver gives it with containerd:
// /kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid, '-' as '_'>.slice/
// cri-containerd-<id>.scope.
std::string kubepods_systemd_path(const std::string& qos, const std::string& pod_uid,
                                  const std::string& container_id);

// Mount points of every cgroup hierarchy: each v1 one and the v2 one.
std::vector<std::string> cgroup_mounts();

struct ContainerSpec {
  std::string id = random_container_id();
  std::string cgroups_path;       // absolute, e.g. kubepods_cgroupfs_path(...)
  std::vector<std::string> argv;  // argv[0]: an absolute path as seen inside
  // A network namespace to join (/run/netns/<name>, /proc/<pid>/ns/net);
  // without one the container shares the host's.
  std::optional<std::string> netns;
  std::vector<std::string> env;  // NAME=value, after PATH
  // Host directories mounted read-only at the same path inside. argv[0]'s
  // directory is added when the rest of the root file system lacks it.
  std::vector<std::string> ro_binds;
};

// What `runc state` says of a container.
struct RuncState {
  std::string status;  // "created", "running", "stopped"
  pid_t pid = 0;
};

// A container run by `runc run` in the foreground (runc waits for it, reaps
// it and exits with its code). Its root file system: busybox-static as /bin,
// the host's /usr, /lib*, /sbin and ro_binds read-only, a fresh /proc, /dev
// and /tmp. Destroying it kills the container and removes its runc state, its
// bundle, its cgroups and the parent cgroups that containers of this process
// made (once the last container under them is gone).
class RuncContainer {
 public:
  // Returns once the container's process runs (or already ran), or why it
  // could not start.
  static std::expected<RuncContainer, std::string> run(const ContainerSpec& spec);
  RuncContainer(RuncContainer&&) noexcept;
  RuncContainer& operator=(RuncContainer&&) noexcept;
  ~RuncContainer();

  const std::string& id() const;
  const std::string& cgroups_path() const;
  // The container's init process, as the host sees it.
  pid_t pid() const;
  // The cgroup v2 directory, e.g. /sys/fs/cgroup/unified/kubepods/....
  std::string cgroup_v2_path() const;
  // Its inode: what bpf_get_current_cgroup_id() returns inside. 0 when the
  // container had already exited when run() returned.
  uint64_t cgroup_id() const;
  // Exit code (128+signal when killed), or nullopt on time-out.
  std::optional<int> wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // nullopt once runc no longer knows the container.
  std::optional<RuncState> state() const;
  // What the container wrote (runc's own errors go to stderr too).
  std::string out() const;
  std::string err() const;
  // runc's --root and the bundle directory, for tests that check cleanup.
  const std::string& state_root() const;
  const std::string& bundle() const;

 private:
  struct Impl;
  explicit RuncContainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ksight::test
