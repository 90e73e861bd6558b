#include "runtime/cgroup.h"

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
  if (::stat(mount.c_str(), &st) == 0) out[st.st_ino] = "/";
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

std::expected<ScopedCgroup, std::string> ScopedCgroup::create(const std::string& name) {
  std::string mount = cgroup2_mount();
  if (mount.empty()) return std::unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  std::string path = mount + "/" + name;
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
  // The last processes of the tree may still be on their way out.
  for (int i = 0; i < 50 && ::rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace ksight::runtime
