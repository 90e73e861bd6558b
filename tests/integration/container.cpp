#include "container.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "runtime/cgroup.h"

namespace ksight::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// Debian installs runc in /usr/sbin; a hand-built one sits in /usr/local.
std::string runc_binary() {
  for (const char* p :
       {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

// busybox-static's path, on merged-/usr hosts and others alike.
constexpr const char* kBusybox = "/bin/busybox";

std::string random_hex(size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xff;
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

// A cgroup directory that runc made for a container of this process (the
// container's own or a /kubepods parent). Containers of one pod share their
// parents, and a test may destroy them in any order, so each directory is
// shared by every container under it and removed, if empty, by the last one.
// The registry is process-wide because the directories are: it maps each path
// to its owner while any container of this process holds it.
class MadeCgroup {
 public:
  explicit MadeCgroup(std::string path) : path_(std::move(path)) {}
  ~MadeCgroup();
  MadeCgroup(const MadeCgroup&) = delete;
  MadeCgroup& operator=(const MadeCgroup&) = delete;

 private:
  std::string path_;
};

struct MadeCgroups {
  std::mutex mu;
  std::map<std::string, std::weak_ptr<MadeCgroup>> by_path;
};

MadeCgroups& made_cgroups() {
  static MadeCgroups registry;
  return registry;
}

MadeCgroup::~MadeCgroup() {
  auto& reg = made_cgroups();
  std::lock_guard lock(reg.mu);
  // EBUSY while the last task of the cgroup is still being released, or while
  // a child cgroup of someone else's keeps a parent: then it stays.
  for (int i = 0; i < 25 && ::rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(20ms);
  auto it = reg.by_path.find(path_);
  if (it != reg.by_path.end() && it->second.expired()) reg.by_path.erase(it);
}

// The owner of `path` when a container of this process made it or is about
// to: nullptr when it exists and is someone else's, never to be removed.
std::shared_ptr<MadeCgroup> claim(const std::string& path) {
  auto& reg = made_cgroups();
  std::lock_guard lock(reg.mu);
  if (auto owner = reg.by_path[path].lock()) return owner;
  std::error_code ec;
  if (fs::exists(path, ec)) return nullptr;
  auto owner = std::make_shared<MadeCgroup>(path);
  reg.by_path[path] = owner;
  return owner;
}

// The root file system's top level: busybox as /bin; the host's /usr and its
// library and sbin directories (as symlinks where the host has merged /usr,
// read-only binds where it has not); the binds the spec asks for.
std::expected<json, std::string> make_rootfs(const ContainerSpec& spec, const std::string& rootfs) {
  std::error_code ec;
  for (const char* d : {"bin", "proc", "dev", "tmp", "usr", "etc"}) {
    fs::create_directories(rootfs + "/" + d, ec);
    if (ec) return std::unexpected("mkdir " + rootfs + "/" + d + ": " + ec.message());
  }
  fs::copy_file(kBusybox, rootfs + "/bin/busybox", ec);
  if (ec) return std::unexpected(std::string("copy ") + kBusybox + ": " + ec.message());
  auto applets = run({kBusybox, "--list"}, 10s);
  if (applets.code != 0) return std::unexpected(std::string(kBusybox) + " --list failed");
  std::istringstream names(applets.out);
  for (std::string name; std::getline(names, name);)
    if (!name.empty() && name != "busybox")
      fs::create_symlink("busybox", rootfs + "/bin/" + name, ec);

  json mounts = json::array();
  auto bind = [&](const std::string& path) {
    mounts.push_back(
        {{"destination", path}, {"type", "bind"}, {"source", path}, {"options", {"rbind", "ro"}}});
  };
  bind("/usr");
  for (const char* d : {"/lib", "/lib32", "/lib64", "/libx32", "/sbin"}) {
    auto st = fs::symlink_status(d, ec);
    if (fs::is_symlink(st)) {
      fs::create_symlink(fs::read_symlink(d, ec), rootfs + d, ec);
    } else if (fs::is_directory(st)) {
      bind(d);
    }
  }
  // Without the cache the loader still finds libraries in the default paths,
  // but not those of /etc/ld.so.conf.d.
  if (fs::exists("/etc/ld.so.cache", ec)) bind("/etc/ld.so.cache");
  std::vector<std::string> binds = spec.ro_binds;
  const std::string& exe = spec.argv.front();
  bool visible = false;
  for (const char* top : {"/usr/", "/bin/", "/sbin/", "/lib"})
    visible = visible || exe.rfind(top, 0) == 0;
  for (const auto& b : binds) visible = visible || exe.rfind(b + "/", 0) == 0;
  if (!visible) binds.push_back(fs::path(exe).parent_path().string());
  for (const auto& b : binds) bind(b);
  return mounts;
}

// config.json: the fields `runc spec` writes, less the terminal, sysfs and
// cgroupfs mounts and the private network namespace; plus the cgroups path.
json make_config(const ContainerSpec& spec, json binds) {
  json env = {"PATH=/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin"};
  for (const auto& e : spec.env) env.push_back(e);
  const json caps = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
  json mounts = {
      {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
      {{"destination", "/dev"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
      {{"destination", "/dev/pts"},
       {"type", "devpts"},
       {"source", "devpts"},
       {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
      {{"destination", "/dev/shm"},
       {"type", "tmpfs"},
       {"source", "shm"},
       {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
      {{"destination", "/tmp"},
       {"type", "tmpfs"},
       {"source", "tmpfs"},
       {"options", {"nosuid", "nodev", "mode=1777", "size=65536k"}}},
  };
  for (auto& b : binds) mounts.push_back(std::move(b));
  json namespaces = {{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}};
  if (spec.netns) namespaces.push_back({{"type", "network"}, {"path", *spec.netns}});
  return {
      {"ociVersion", "1.0.2-dev"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", spec.argv},
        {"env", env},
        {"cwd", "/"},
        {"capabilities",
         {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", true}}},
      {"hostname", spec.id.substr(0, 12)},
      {"mounts", mounts},
      {"linux",
       {{"cgroupsPath", spec.cgroups_path},
        {"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
        {"namespaces", namespaces},
        {"maskedPaths",
         {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
          "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
          "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
  };
}

}  // namespace

std::optional<std::string> runc_unavailable_reason() {
  if (::geteuid() != 0) return "needs root to run containers";
  if (runc_binary().empty()) return "runc is not installed (scripts/setup installs it)";
  if (::access(kBusybox, X_OK) != 0)
    return "busybox-static is not installed (scripts/setup installs it)";
  if (runtime::cgroup2_mount().empty()) return "no cgroup v2 hierarchy is mounted";
  return std::nullopt;
}

std::string random_container_id() {
  return random_hex(32);
}

std::string random_pod_uid() {
  std::string h = random_hex(16);
  h[12] = '4';                                                  // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

std::string kubepods_cgroupfs_path(const std::string& qos, const std::string& pod_uid,
                                   const std::string& container_id) {
  std::string qos_dir = qos == "guaranteed" ? "" : "/" + qos;
  return "/kubepods" + qos_dir + "/pod" + pod_uid + "/" + container_id;
}

std::string kubepods_systemd_path(const std::string& qos, const std::string& pod_uid,
                                  const std::string& container_id) {
  std::string uid = pod_uid;
  std::replace(uid.begin(), uid.end(), '-', '_');  // '-' nests a systemd slice
  std::string slice = qos == "guaranteed" ? "kubepods" : "kubepods-" + qos;
  std::string qos_dir = qos == "guaranteed" ? "" : "/" + slice + ".slice";
  return "/kubepods.slice" + qos_dir + "/" + slice + "-pod" + uid + ".slice/cri-containerd-" +
         container_id + ".scope";
}

std::vector<std::string> cgroup_mounts() {
  std::vector<std::string> out;
  std::ifstream f("/proc/self/mountinfo");
  for (std::string line; std::getline(f, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream pre(line.substr(0, dash)), post(line.substr(dash + 3));
    std::string id, parent, dev, root, mount, fstype;
    pre >> id >> parent >> dev >> root >> mount;
    post >> fstype;
    if (fstype == "cgroup" || fstype == "cgroup2") out.push_back(mount);
  }
  return out;
}

struct RuncContainer::Impl {
  std::string id, cgroups_path, runc = runc_binary();
  TempDir dir;
  std::string bundle = dir.file("bundle"), state_root = dir.file("state");
  std::unique_ptr<Child> runc_run;
  pid_t pid = 0;
  uint64_t cgroup_id = 0;
  // Root to leaf in each hierarchy, so that popping removes leaves first.
  std::vector<std::shared_ptr<MadeCgroup>> made;

  RunResult runc_cmd(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{runc, "--root", state_root};
    argv.insert(argv.end(), args.begin(), args.end());
    return ::ksight::test::run(argv, 15s);
  }

  ~Impl() {
    if (!runc_run) return;  // runc never ran: nothing of it to remove
    if (!runc_run->exited()) {
      runc_cmd({"kill", id, "KILL"});
      if (!runc_run->wait(10s)) {
        runc_run->signal(SIGKILL);
        runc_run->wait(5s);
      }
    }
    // Also what a runc killed half-way left: the state, a live init, cgroups.
    runc_cmd({"delete", "--force", id});
    runc_run.reset();
    while (!made.empty()) made.pop_back();
  }
};

RuncContainer::RuncContainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RuncContainer::RuncContainer(RuncContainer&&) noexcept = default;
RuncContainer& RuncContainer::operator=(RuncContainer&&) noexcept = default;
RuncContainer::~RuncContainer() = default;

std::expected<RuncContainer, std::string> RuncContainer::run(const ContainerSpec& spec) {
  if (auto why = runc_unavailable_reason()) return std::unexpected(*why);
  if (spec.argv.empty() || spec.argv.front().empty() || spec.argv.front().front() != '/')
    return std::unexpected(std::string("argv[0] must be an absolute path"));
  if (spec.cgroups_path.empty() || spec.cgroups_path.front() != '/')
    return std::unexpected("cgroups_path must be absolute, not '" + spec.cgroups_path + "'");
  auto impl = std::make_unique<Impl>();
  impl->id = spec.id;
  impl->cgroups_path = spec.cgroups_path;

  auto binds = make_rootfs(spec, impl->bundle + "/rootfs");
  if (!binds) return std::unexpected(binds.error());
  std::ofstream(impl->bundle + "/config.json") << make_config(spec, std::move(*binds)).dump(1);

  // Before runc makes them: which directories of the path are this process's.
  for (const auto& mount : cgroup_mounts()) {
    std::string dir = mount;
    for (const auto& part : fs::path(spec.cgroups_path).relative_path()) {
      dir += "/" + part.string();
      if (auto owner = claim(dir)) impl->made.push_back(std::move(owner));
    }
  }

  const std::string pid_file = impl->dir.file("pid");
  impl->runc_run = std::make_unique<Child>(
      std::vector<std::string>{impl->runc, "--root", impl->state_root, "--log",
                               impl->dir.file("runc.log"), "run", "--bundle", impl->bundle,
                               "--pid-file", pid_file, spec.id},
      impl->dir.file("out"), impl->dir.file("err"));
  // runc writes the pid file (atomically, by rename) once the process runs.
  eventually([&] { return fs::exists(pid_file) || impl->runc_run->wait(0ms).has_value(); }, 20s);
  std::string pid = read_file(pid_file);
  if (pid.empty()) {
    auto code = impl->runc_run->wait(0ms);
    std::string why = code ? "runc run exited with " + std::to_string(*code)
                           : std::string("runc run started no process in 20 s");
    // runc prints its error on stderr and logs it; the log alone has earlier steps.
    std::string err = read_file(impl->dir.file("err"));
    return std::unexpected(why + ": " +
                           (err.empty() ? read_file(impl->dir.file("runc.log")) : err));
  }
  impl->pid = static_cast<pid_t>(std::stol(pid));
  impl->cgroup_id = runtime::cgroup_id(spec.cgroups_path).value_or(0);
  return RuncContainer(std::move(impl));
}

const std::string& RuncContainer::id() const {
  return impl_->id;
}
const std::string& RuncContainer::cgroups_path() const {
  return impl_->cgroups_path;
}
pid_t RuncContainer::pid() const {
  return impl_->pid;
}
std::string RuncContainer::cgroup_v2_path() const {
  return runtime::cgroup2_mount() + impl_->cgroups_path;
}
uint64_t RuncContainer::cgroup_id() const {
  return impl_->cgroup_id;
}
std::optional<int> RuncContainer::wait(std::chrono::milliseconds timeout) {
  return impl_->runc_run->wait(timeout);
}
std::string RuncContainer::out() const {
  return read_file(impl_->dir.file("out"));
}
std::string RuncContainer::err() const {
  return read_file(impl_->dir.file("err"));
}
const std::string& RuncContainer::state_root() const {
  return impl_->state_root;
}
const std::string& RuncContainer::bundle() const {
  return impl_->bundle;
}

std::optional<RuncState> RuncContainer::state() const {
  auto r = impl_->runc_cmd({"state", impl_->id});
  if (r.code != 0) return std::nullopt;
  auto j = json::parse(r.out, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return RuncState{j.value("status", ""), j.value("pid", 0)};
}

}  // namespace ksight::test
