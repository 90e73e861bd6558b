// Real containers, run by runc in the cgroups the kubelet gives them, as the
// ground truth for mapping a cgroup to its container and pod: each layout the
// kubelet makes (cgroupfs and systemd drivers, each QoS class) is reproduced
// literally by runc's cgroupfs driver, and every test checks that the
// container, its cgroups and the parents it made are gone afterwards.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "container.h"
#include "harness.h"
#include "runtime/cgroup.h"

namespace ksight::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Layout {
  const char* name;
  std::string (*path)(const std::string& qos, const std::string& pod_uid,
                      const std::string& container_id);
  const char* qos;
};

// /proc/<pid>/cgroup as hierarchy -> path: "0" for v2 ("0::/x"), each v1
// controller by name ("4:memory:/x", "1:cpu,cpuacct:/x" gives both).
std::map<std::string, std::string> cgroups_of(const std::string& proc_cgroup) {
  std::map<std::string, std::string> out;
  std::istringstream in(proc_cgroup);
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty()) out["0"] = path;
    std::istringstream names(controllers);
    for (std::string c; std::getline(names, c, ',');) out[c] = path;
  }
  return out;
}

// The directories of `cgroups_path` (each prefix, in every hierarchy) that do
// not exist now: those a test's containers make and must remove.
std::vector<std::string> absent_cgroup_dirs(const std::string& cgroups_path) {
  std::vector<std::string> out;
  for (const auto& mount : cgroup_mounts()) {
    std::string dir = mount;
    for (const auto& part : fs::path(cgroups_path).relative_path()) {
      dir += "/" + part.string();
      if (!fs::exists(dir)) out.push_back(dir);
    }
  }
  return out;
}

std::vector<std::string> existing(const std::vector<std::string>& dirs) {
  std::vector<std::string> out;
  for (const auto& d : dirs)
    if (fs::exists(d)) out.push_back(d);
  return out;
}

// Names the layout in gtest's messages.
void PrintTo(const Layout& layout, std::ostream* os) {
  *os << layout.name;
}

std::string readlink_of(const std::string& path) {
  std::error_code ec;
  return fs::read_symlink(path, ec).string();
}

class Container : public ::testing::TestWithParam<Layout> {
 protected:
  void SetUp() override {
    pod_uid_ = random_pod_uid();
    id_ = random_container_id();
    path_ = GetParam().path(GetParam().qos, pod_uid_, id_);
    absent_ = absent_cgroup_dirs(path_);
  }
  // Whatever the test did, nothing of its containers may outlive it.
  void TearDown() override {
    if (IsSkipped()) return;
    EXPECT_EQ(existing(absent_), std::vector<std::string>{}) << "cgroups left behind";
  }
  ContainerSpec spec(std::vector<std::string> argv) const {
    ContainerSpec s;
    s.id = id_;
    s.cgroups_path = path_;
    s.argv = std::move(argv);
    return s;
  }
  std::string pod_uid_, id_, path_;
  std::vector<std::string> absent_;
};

// The layouts as a kubelet writes them (no root needed): what the containers
// below reproduce must be what nodes have.
TEST(ContainerPaths, KubeletLayouts) {
  const std::string uid = "0f3e7a52-9c1d-4b7e-8a2f-5d6c4b3a2918", id(64, 'c');
  EXPECT_EQ(kubepods_cgroupfs_path("burstable", uid, id),
            "/kubepods/burstable/pod0f3e7a52-9c1d-4b7e-8a2f-5d6c4b3a2918/" + id);
  EXPECT_EQ(kubepods_cgroupfs_path("guaranteed", uid, id),
            "/kubepods/pod0f3e7a52-9c1d-4b7e-8a2f-5d6c4b3a2918/" + id);
  EXPECT_EQ(kubepods_systemd_path("besteffort", uid, id),
            "/kubepods.slice/kubepods-besteffort.slice/"
            "kubepods-besteffort-pod0f3e7a52_9c1d_4b7e_8a2f_5d6c4b3a2918.slice/cri-containerd-" +
                id + ".scope");
  EXPECT_EQ(kubepods_systemd_path("guaranteed", uid, id),
            "/kubepods.slice/kubepods-pod0f3e7a52_9c1d_4b7e_8a2f_5d6c4b3a2918.slice/"
            "cri-containerd-" +
                id + ".scope");
  EXPECT_EQ(random_container_id().find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(random_container_id().size(), 64u);
  EXPECT_NE(random_container_id(), random_container_id());
  const std::string pod = random_pod_uid();
  ASSERT_EQ(pod.size(), 36u);
  EXPECT_EQ(pod[14], '4') << pod;                                          // version 4
  EXPECT_NE(std::string("89ab").find(pod[19]), std::string::npos) << pod;  // RFC 4122 variant
}

TEST_P(Container, RunsInTheCgroupPathItWasGiven) {
  KSIGHT_REQUIRE_RUNC();
  auto c = RuncContainer::run(spec({KSIGHT_WORK, "sleep", "30"}));
  ASSERT_TRUE(c) << c.error();
  auto state = c->state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, "running");
  EXPECT_EQ(state->pid, c->pid());
  // The host sees the build's binary run, at the same path, in its own pid ns.
  EXPECT_EQ(readlink_of("/proc/" + std::to_string(c->pid()) + "/exe"), KSIGHT_WORK);
  EXPECT_NE(readlink_of("/proc/" + std::to_string(c->pid()) + "/ns/pid"),
            readlink_of("/proc/self/ns/pid"));

  auto cgroups = cgroups_of(read_file("/proc/" + std::to_string(c->pid()) + "/cgroup"));
  ASSERT_TRUE(cgroups.count("0")) << "no cgroup v2 line";
  EXPECT_EQ(cgroups["0"], path_);
  // runc's cgroupfs driver puts it at the same path in every hierarchy: on a
  // hybrid host each v1 one (name=systemd too) and the v2 one.
  for (const auto& mount : cgroup_mounts())
    EXPECT_EQ(read_file(mount + path_ + "/cgroup.procs"), std::to_string(c->pid()) + "\n") << mount;

  const std::string v2 = runtime::cgroup2_mount() + path_;
  EXPECT_EQ(c->cgroup_v2_path(), v2);
  auto id = runtime::cgroup_id(path_);
  ASSERT_TRUE(id) << id.error();
  EXPECT_NE(*id, 0u);
  EXPECT_EQ(c->cgroup_id(), *id);
  struct stat st {};
  ASSERT_EQ(::stat((runtime::cgroup2_mount() + cgroups["0"]).c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_ino), *id);
}

TEST_P(Container, ReadsItsOwnCgroupAndExitsWithItsCode) {
  KSIGHT_REQUIRE_RUNC();
  {
    auto c = RuncContainer::run(
        spec({"/bin/sh", "-c",
              "cat /proc/self/cgroup; echo pid=$$; readlink /proc/self/ns/net; exit 42"}));
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->wait(), 42) << c->err();
    std::string out = c->out();
    EXPECT_EQ(cgroups_of(out)["0"], path_) << out;
    EXPECT_NE(out.find("pid=1\n"), std::string::npos) << out;
    // No network namespace given: the host's.
    EXPECT_NE(out.find(readlink_of("/proc/self/ns/net") + "\n"), std::string::npos) << out;
  }
  // A dynamically linked binary of the build runs unchanged, at its path.
  auto work = RuncContainer::run(spec({KSIGHT_WORK, "getpid", "1000"}));
  ASSERT_TRUE(work) << work.error();
  EXPECT_EQ(work->wait(), 0) << work->err();
  auto bad = RuncContainer::run(spec({KSIGHT_WORK, "no-such-mode", "1"}));
  ASSERT_TRUE(bad) << bad.error();
  EXPECT_EQ(bad->wait(), 2) << bad->err();
}

// What the kernel says: inside the container bpf_get_current_cgroup_id() is
// the id of the cgroup at cgroups_path. ksight trace --cgroup compares the two
// in the kernel, and each event carries the id it saw.
TEST_P(Container, BpfSeesTheContainersCgroupId) {
  KSIGHT_REQUIRE_BPF();
  KSIGHT_REQUIRE_RUNC();
  auto s = spec({"/bin/sh", "-c",
                 "while [ ! -e /tmp/go ]; do sleep 0.05; done; for i in 1 2 3 4 5; do " KSIGHT_WORK
                 " getpid 1 || exit 1; done"});
  s.ro_binds = {fs::path(KSIGHT_WORK).parent_path().string()};  // the shell is argv[0]
  auto c = RuncContainer::run(s);
  ASSERT_TRUE(c) << c.error();
  ASSERT_NE(c->cgroup_id(), 0u);
  TempDir dir;
  Child trace(
      {ksight_binary(), "trace", "exec", "-o", "json", "--cgroup", path_, "--log-level", "info"},
      dir.file("trace.out"), dir.file("trace.err"));
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir.file("trace.err")).find("attached") != std::string::npos; }, 15s))
      << read_file(dir.file("trace.err"));
  // The container's /tmp, from the host: its processes start only now.
  std::ofstream("/proc/" + std::to_string(c->pid()) + "/root/tmp/go") << "go\n";
  ASSERT_EQ(c->wait(), 0) << c->err();
  std::this_thread::sleep_for(300ms);
  trace.signal(SIGINT);
  ASSERT_EQ(trace.wait(10s), 0) << read_file(dir.file("trace.err"));
  int works = 0;
  for (const auto& line : read_lines(dir.file("trace.out"))) {
    auto ev = nlohmann::json::parse(line);
    EXPECT_EQ(ev["cgroup_id"].get<uint64_t>(), c->cgroup_id()) << line;
    works += ev["filename"] == KSIGHT_WORK;
  }
  EXPECT_EQ(works, 5) << read_file(dir.file("trace.out"));
}

// A network namespace holding a veth pair (both ends: deleted with it) and a
// TCP listener on one end's address.
class ListeningNetns {
 public:
  ListeningNetns()
      : tag_(std::to_string(::getpid() % 100000)),
        name_("kscn" + tag_),
        addr_("10.77." + std::to_string(::getpid() % 250) + ".1") {
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"/usr/sbin/ip", "netns", "add", name_},
             {"/usr/sbin/ip", "-n", name_, "link", "set", "lo", "up"},
             {"/usr/sbin/ip", "-n", name_, "link", "add", "ksca" + tag_, "type", "veth", "peer",
              "name", "kscb" + tag_},
             {"/usr/sbin/ip", "-n", name_, "addr", "add", addr_ + "/24", "dev", "ksca" + tag_},
             {"/usr/sbin/ip", "-n", name_, "link", "set", "ksca" + tag_, "up"},
             {"/usr/sbin/ip", "-n", name_, "link", "set", "kscb" + tag_, "up"},
         }) {
      auto r = run(argv, 10s);
      if (r.code != 0) {
        error_ = argv[3] + " failed: " + r.err;
        return;
      }
    }
    // A socket belongs to the namespace it was made in; setns moves only the
    // calling thread, hence the short-lived one.
    std::thread([&] {
      int ns = ::open(path().c_str(), O_RDONLY | O_CLOEXEC);
      if (ns >= 0 && ::setns(ns, CLONE_NEWNET) == 0) fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
      if (ns >= 0) ::close(ns);
    }).join();
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, addr_.c_str(), &sa.sin_addr);
    socklen_t len = sizeof(sa);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        ::listen(fd_, 4) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      error_ = "cannot listen in " + name_;
      return;
    }
    port_ = ntohs(sa.sin_port);
  }
  ~ListeningNetns() {
    if (fd_ >= 0) ::close(fd_);
    run({"/usr/sbin/ip", "netns", "del", name_});
  }
  ListeningNetns(const ListeningNetns&) = delete;

  // The first line a client sends, or "" when none connects in time.
  std::string accept_line(std::chrono::milliseconds timeout) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    int conn = ::accept(fd_, nullptr, nullptr);
    if (conn < 0) return "";
    timeval tv{5, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string got;
    char ch;
    while (::recv(conn, &ch, 1, 0) == 1 && ch != '\n') got += ch;
    ::close(conn);
    return got;
  }
  std::string path() const { return "/run/netns/" + name_; }
  const std::string& error() const { return error_; }
  const std::string& tag() const { return tag_; }
  const std::string& addr() const { return addr_; }
  int port() const { return port_; }

 private:
  std::string tag_, name_, addr_, error_;
  int fd_ = -1, port_ = 0;
};

TEST_P(Container, JoinsTheNetworkNamespaceItWasGiven) {
  KSIGHT_REQUIRE_RUNC();
  ListeningNetns ns;
  ASSERT_EQ(ns.error(), "");
  auto s = spec({"/bin/sh", "-c",
                 "cat /proc/net/dev; readlink /proc/self/ns/net; echo hello-$(hostname) | "
                 "nc -w 5 " +
                     ns.addr() + " " + std::to_string(ns.port())});
  s.netns = ns.path();
  auto c = RuncContainer::run(s);
  ASSERT_TRUE(c) << c.error();
  // The container reached a listener that exists only in that namespace.
  EXPECT_EQ(ns.accept_line(15s), "hello-" + id_.substr(0, 12));
  EXPECT_EQ(c->wait(), 0) << c->err();
  std::string out = c->out();
  EXPECT_NE(out.find("ksca" + ns.tag() + ":"), std::string::npos) << out;
  EXPECT_NE(out.find("kscb" + ns.tag() + ":"), std::string::npos) << out;
  struct stat st {};
  ASSERT_EQ(::stat(ns.path().c_str(), &st), 0);
  EXPECT_NE(out.find("net:[" + std::to_string(st.st_ino) + "]\n"), std::string::npos) << out;
}

TEST_P(Container, LeavesNothingBehind) {
  KSIGHT_REQUIRE_RUNC();
  std::string state_root, bundle;
  {
    auto c = RuncContainer::run(spec({KSIGHT_WORK, "sleep", "30"}));
    ASSERT_TRUE(c) << c.error();
    state_root = c->state_root();
    bundle = c->bundle();
    EXPECT_TRUE(fs::exists(state_root + "/" + id_));
    for (const auto& mount : cgroup_mounts()) EXPECT_TRUE(fs::exists(mount + path_)) << mount;
  }  // destroyed while its process still runs
  EXPECT_FALSE(fs::exists(state_root));
  EXPECT_FALSE(fs::exists(bundle));
  for (const auto& mount : cgroup_mounts()) EXPECT_FALSE(fs::exists(mount + path_)) << mount;

  // A container whose process cannot start: runc says why, and leaves
  // nothing either (TearDown checks the cgroups).
  auto missing = RuncContainer::run(spec({"/usr/bin/ksight-no-such-binary"}));
  ASSERT_FALSE(missing) << "a container ran a binary that does not exist";
  EXPECT_NE(missing.error().find("/usr/bin/ksight-no-such-binary"), std::string::npos)
      << missing.error();
}

TEST_P(Container, TwoContainersOfOnePodSideBySide) {
  KSIGHT_REQUIRE_RUNC();
  const std::string other_id = random_container_id();
  const std::string other_path = GetParam().path(GetParam().qos, pod_uid_, other_id);
  ASSERT_EQ(fs::path(other_path).parent_path(), fs::path(path_).parent_path());
  std::optional<RuncContainer> first, second;
  {
    auto a = RuncContainer::run(spec({KSIGHT_WORK, "sleep", "30"}));
    ASSERT_TRUE(a) << a.error();
    first.emplace(std::move(*a));
    auto s = spec({KSIGHT_WORK, "sleep", "30"});
    s.id = other_id;
    s.cgroups_path = other_path;
    auto b = RuncContainer::run(s);
    ASSERT_TRUE(b) << b.error();
    second.emplace(std::move(*b));
  }
  EXPECT_EQ(cgroups_of(read_file("/proc/" + std::to_string(first->pid()) + "/cgroup"))["0"], path_);
  EXPECT_EQ(cgroups_of(read_file("/proc/" + std::to_string(second->pid()) + "/cgroup"))["0"],
            other_path);
  EXPECT_NE(first->cgroup_id(), second->cgroup_id());
  auto pod = runtime::cgroup_id(fs::path(path_).parent_path().string());
  ASSERT_TRUE(pod) << pod.error();
  EXPECT_NE(*pod, first->cgroup_id());

  // The container that made the pod's parents goes first: they must outlive it.
  first.reset();
  EXPECT_TRUE(fs::exists(runtime::cgroup2_mount() + fs::path(path_).parent_path().string()));
  auto state = second->state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->status, "running");
  second.reset();
  for (const auto& mount : cgroup_mounts()) EXPECT_FALSE(fs::exists(mount + other_path)) << mount;
}

INSTANTIATE_TEST_SUITE_P(
    , Container,
    ::testing::Values(Layout{"cgroupfs_burstable", kubepods_cgroupfs_path, "burstable"},
                      Layout{"cgroupfs_guaranteed", kubepods_cgroupfs_path, "guaranteed"},
                      Layout{"systemd_burstable", kubepods_systemd_path, "burstable"},
                      Layout{"systemd_besteffort", kubepods_systemd_path, "besteffort"}),
    [](const ::testing::TestParamInfo<Layout>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace ksight::test
