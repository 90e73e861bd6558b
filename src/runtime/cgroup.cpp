#include "runtime/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ksight::runtime {

std::string cgroup2_mount() {
  std::ifstream f("/proc/self/mountinfo");
  std::string line;
  while (std::getline(f, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, mount, fstype;
    pre >> id >> parent >> dev >> root >> mount;
    post >> fstype;
    if (fstype == "cgroup2") return mount;
  }
  return {};
}

std::expected<uint64_t, std::string> cgroup_id(const std::string& path) {
  std::string mount = cgroup2_mount();
  if (mount.empty()) return std::unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  std::string full =
      path.rfind(mount, 0) == 0 ? path : mount + (path.front() == '/' ? "" : "/") + path;
  struct stat st {};
  if (::stat(full.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return std::unexpected("no cgroup " + path + " under " + mount);
  return static_cast<uint64_t>(st.st_ino);
}

std::map<uint64_t, std::string> cgroup_paths(size_t limit) {
  std::map<uint64_t, std::string> out;
  const std::string mount = cgroup2_mount();
  if (mount.empty()) return out;
  std::error_code ec;
  struct stat st {};
  // emplace, not operator=: g++ 12 at -O3 flags that assignment with a false
  // -Werror=restrict (GCC bug 105329).
  if (::stat(mount.c_str(), &st) == 0) out.try_emplace(static_cast<uint64_t>(st.st_ino), "/");
  namespace fs = std::filesystem;
  for (fs::recursive_directory_iterator
           it(mount, fs::directory_options::skip_permission_denied, ec),
       end;
       it != end && out.size() < limit; it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
    if (::stat(it->path().c_str(), &st) != 0) continue;
    out[st.st_ino] = it->path().string().substr(mount.size());
  }
  return out;
}

CgroupExistence::CgroupExistence() {
  std::string mount = cgroup2_mount();
  if (!mount.empty()) mount_fd_ = ::open(mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

CgroupExistence::~CgroupExistence() {
  if (mount_fd_ >= 0) ::close(mount_fd_);
}

bool CgroupExistence::exists(uint64_t id) {
  if (mount_fd_ < 0) return true;
  if (use_handles_) {
    // kernfs exports cgroup directories by a 64-bit id, the same id
    // bpf_get_current_cgroup_id() returns (FILEID_KERNFS, kernel 5.5+).
    alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(uint64_t)] = {};
    auto* fh = reinterpret_cast<file_handle*>(buf);
    fh->handle_bytes = sizeof(uint64_t);
    fh->handle_type = 0xfe;  // FILEID_KERNFS
    std::memcpy(fh->f_handle, &id, sizeof(id));
    int fd = ::open_by_handle_at(mount_fd_, fh, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    if (errno == ESTALE || errno == ENOENT) return false;
    use_handles_ = false;  // EPERM (no CAP_DAC_READ_SEARCH), EOPNOTSUPP: walk instead
  }
  if (!walked_) {
    paths_ = cgroup_paths();
    walked_ = true;
  }
  return paths_.count(id) != 0;
}

std::expected<std::string, std::string> own_cgroup_dir() {
  std::string mount = cgroup2_mount();
  if (mount.empty()) return std::unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    // "0::/user.slice/session-1.scope": the v2 hierarchy, also on a hybrid host.
    if (line.rfind("0::", 0) != 0) continue;
    std::string rel = line.substr(3);
    if (rel.empty() || rel.front() != '/')
      return std::unexpected("cannot tell our cgroup from '" + line + "'");
    return rel == "/" ? mount : mount + rel;
  }
  return std::unexpected(std::string("no cgroup v2 entry in /proc/self/cgroup"));
}

namespace {

// Kills every process in the cgroup at `path`: cgroup.kill (5.14+) takes the
// whole tree at once; without it, SIGKILL to each pid in cgroup.procs.
void kill_cgroup(const std::string& path) {
  {
    std::ofstream kill(path + "/cgroup.kill");
    if (kill) {
      kill << "1" << std::flush;
      if (kill) return;
    }
  }
  for (int round = 0; round < 3; ++round) {
    std::ifstream procs(path + "/cgroup.procs");
    pid_t pid = 0;
    bool any = false;
    while (procs >> pid) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any) return;
  }
}

// Removes an emptied cgroup; the last processes may still be on their way out.
void remove_cgroup(const std::string& path) {
  for (int i = 0; i < 50 && ::rmdir(path.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// Conservative: a pid reused by another process keeps the cgroup until that
// process is gone too.
bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

size_t remove_stale_trace_cgroups(const std::string& dir) {
  size_t removed = 0;
  std::error_code ec;
  static constexpr std::string_view kPrefix = "ksight-trace-";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string digits = name.substr(kPrefix.size());
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(digits));
    if (owner == ::getpid() || process_exists(owner)) continue;  // a live tracer's
    kill_cgroup(e.path().string());
    remove_cgroup(e.path().string());
    if (!std::filesystem::exists(e.path(), ec)) ++removed;
  }
  return removed;
}

std::expected<ScopedCgroup, std::string> ScopedCgroup::create(const std::string& name) {
  std::string mount = cgroup2_mount();
  if (mount.empty()) return std::unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  return create(mount, name);
}

std::expected<ScopedCgroup, std::string> ScopedCgroup::create(const std::string& parent,
                                                              const std::string& name) {
  std::string path = parent + "/" + name;
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    return std::unexpected("cannot create cgroup " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return std::unexpected("cannot stat cgroup " + path + ": " + std::strerror(errno));
  return ScopedCgroup(path, static_cast<uint64_t>(st.st_ino));
}

std::expected<void, std::string> ScopedCgroup::add(pid_t pid) const {
  std::ofstream procs(path_ + "/cgroup.procs");
  procs << pid << std::flush;
  if (!procs) return std::unexpected("cannot move pid " + std::to_string(pid) + " into " + path_);
  return {};
}

ScopedCgroup::~ScopedCgroup() {
  if (path_.empty()) return;
  kill_cgroup(path_);
  remove_cgroup(path_);
}

}  // namespace ksight::runtime
