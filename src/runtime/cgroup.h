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

// Whether cgroups still exist, by id, for pruning kernel maps. One object
// per sweep: it asks the kernel directly (open_by_handle_at on the cgroup2
// mount with the id as a kernfs file handle, one syscall per id, no walk),
// and falls back to one walk of the tree when handles are refused.
class CgroupExistence {
 public:
  CgroupExistence();
  ~CgroupExistence();
  CgroupExistence(const CgroupExistence&) = delete;
  CgroupExistence& operator=(const CgroupExistence&) = delete;
  // False only when the cgroup is known to be gone: without a cgroup2 mount
  // every id counts as alive, so nothing is pruned.
  bool exists(uint64_t id);

 private:
  int mount_fd_ = -1;
  bool use_handles_ = true;
  bool walked_ = false;
  std::map<uint64_t, std::string> paths_;
};

// This process's own cgroup v2 directory (the "0::" line of
// /proc/self/cgroup under the cgroup2 mount), or an error.
std::expected<std::string, std::string> own_cgroup_dir();

// Removes the ksight-trace-<pid> cgroups in `dir` that a tracer killed with
// SIGKILL left behind: those whose owner pid no longer exists. What still
// runs in one is killed first. Returns how many went.
size_t remove_stale_trace_cgroups(const std::string& dir);

class ScopedCgroup {
 public:
  // Creates <parent>/<name>; `parent` is a directory under the cgroup2 mount.
  static std::expected<ScopedCgroup, std::string> create(const std::string& parent,
                                                         const std::string& name);
  // Creates <cgroup2 mount>/<name>.
  static std::expected<ScopedCgroup, std::string> create(const std::string& name);
  ScopedCgroup(ScopedCgroup&& o) noexcept : path_(std::move(o.path_)), id_(o.id_) {
    o.path_.clear();
  }
  ScopedCgroup(const ScopedCgroup&) = delete;
  // Kills what still runs in the cgroup (the command's leftover descendants),
  // then removes it.
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
