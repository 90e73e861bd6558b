#pragma once
// cgroup v2 helpers: where the v2 hierarchy is mounted (/sys/fs/cgroup on a
// unified host, /sys/fs/cgroup/unified on a hybrid one), a cgroup's id (what
// bpf_get_current_cgroup_id() returns: the directory's inode), and a cgroup
// ksight creates for a traced command and removes afterwards.
#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <map>
#include <string>

namespace ksight::runtime {

// The cgroup2 mount point, or empty when there is none.
std::string cgroup2_mount();

// Resolves PATH (absolute under the mount, or relative to it) to a cgroup id.
std::expected<uint64_t, std::string> cgroup_id(const std::string& path);

// Every cgroup under the cgroup2 mount by id, as a path relative to the
// mount ("/" for the root, "/system.slice/ssh.service"): how ids in metrics
// and events become names. Walks at most `limit` directories.
std::map<uint64_t, std::string> cgroup_paths(size_t limit = 100000);

class ScopedCgroup {
 public:
  // Creates <cgroup2 mount>/<name>.
  static std::expected<ScopedCgroup, std::string> create(const std::string& name);
  ScopedCgroup(ScopedCgroup&& o) noexcept : path_(std::move(o.path_)), id_(o.id_) {
    o.path_.clear();
  }
  ScopedCgroup(const ScopedCgroup&) = delete;
  ~ScopedCgroup();

  std::expected<void, std::string> add(pid_t pid) const;
  uint64_t id() const { return id_; }
  const std::string& path() const { return path_; }

 private:
  ScopedCgroup(std::string path, uint64_t id) : path_(std::move(path)), id_(id) {}
  std::string path_;
  uint64_t id_ = 0;
};

}  // namespace ksight::runtime
