// ksight top: in a real terminal (tmux), where it must show a busy process
// and quit on `q`, and with stdout a file, where it prints plain tables.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;

// Debian's tmux (scripts/setup installs it); the harness execs without PATH.
const std::string kTmux = "/usr/bin/tmux";

const char* work_binary() {
  return KSIGHT_WORK;
}

// A detached tmux session running one command; killed when this goes.
class TmuxSession {
 public:
  TmuxSession(std::string name, const std::string& command) : name_(std::move(name)) {
    ok_ =
        run({kTmux, "new-session", "-d", "-s", name_, "-x", "160", "-y", "45", command}).code == 0;
  }
  ~TmuxSession() { run({kTmux, "kill-session", "-t", name_}); }
  bool ok() const { return ok_; }
  bool alive() const { return run({kTmux, "has-session", "-t", name_}).code == 0; }
  std::string screen() const { return run({kTmux, "capture-pane", "-p", "-t", name_}).out; }
  void keys(const std::string& k) const { run({kTmux, "send-keys", "-t", name_, k}); }

 private:
  std::string name_;
  bool ok_ = false;
};

TEST(Top, TerminalTableShowsABusyProcessAndQuitsOnQ) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Child busy({work_binary(), "spin", "20"}, dir.file("b.out"), dir.file("b.err"));
  TmuxSession tmux("ksight-top-" + std::to_string(::getpid()),
                   std::string(ksight_binary()) + " top -i 500ms 2> " + dir.file("top.err"));
  ASSERT_TRUE(tmux.ok()) << "tmux new-session failed";
  std::string screen;
  ASSERT_TRUE(eventually(
      [&] {
        screen = tmux.screen();
        return screen.find("ksight-work") != std::string::npos;
      },
      15s))
      << screen << read_file(dir.file("top.err"));
  EXPECT_NE(screen.find("*CPU%"), std::string::npos) << screen;  // sorted by CPU by default
  EXPECT_NE(screen.find(std::to_string(busy.pid())), std::string::npos) << screen;
  // s sorts by syscalls: the heading moves its star.
  tmux.keys("s");
  EXPECT_TRUE(
      eventually([&] { return tmux.screen().find("*SYSCALLS/s") != std::string::npos; }, 5s))
      << tmux.screen();
  tmux.keys("q");
  EXPECT_TRUE(eventually([&] { return !tmux.alive(); }, 10s)) << "top did not quit on q";
}

TEST(Top, PlainTablesWhenStdoutIsNotATerminal) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Child busy({work_binary(), "spin", "10"}, dir.file("b.out"), dir.file("b.err"));
  auto r = run({ksight_binary(), "top", "-n", "2", "-i", "700ms"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "escape codes in plain output";
  size_t headers = 0;
  for (size_t at = out.find("ksight top - "); at != std::string::npos;
       at = out.find("ksight top - ", at + 1))
    ++headers;
  EXPECT_EQ(headers, 2u) << out;
  // The busy loop's row, with a good share of a CPU (the second table: the
  // first interval may have started before the loop did). Not a whole one:
  // in CI, beside the sanitizer builds and the package test's debootstrap,
  // it had 82.6% in one interval and 53.6% in the next. Idle, it would be 0.
  EXPECT_NE(out.find("PID      COMM"), std::string::npos) << out;
  std::smatch m;
  const std::string last = out.substr(out.rfind("ksight top - "));
  // Appended, not "\n" + std::to_string(...): g++ 12 -O3 flags that with a false
  // -Werror=restrict (GCC bug 105329).
  std::string row = "\n";
  row += std::to_string(busy.pid());
  row += R"( +ksight-work +([0-9.]+))";
  ASSERT_TRUE(std::regex_search(last, m, std::regex(row))) << out;
  EXPECT_GE(std::stod(m[1]), 25.0) << out;
}

TEST(Top, ContainerViewNamesTheCgroup) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  // A cgroup of our own under the v2 mount, with a busy loop in it.
  std::string mount = std::filesystem::exists("/sys/fs/cgroup/unified/cgroup.procs")
                          ? "/sys/fs/cgroup/unified"
                          : "/sys/fs/cgroup";
  const std::string name = "ksight-top-test-" + std::to_string(::getpid());
  std::filesystem::create_directory(mount + "/" + name);
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::rmdir(path.c_str()); }
  } cleanup{mount + "/" + name};
  pid_t pid = ::fork();
  if (pid == 0) {
    std::ofstream(mount + "/" + name + "/cgroup.procs") << ::getpid();
    ::execl(work_binary(), "ksight-work", "spin", "6", nullptr);
    ::_exit(127);
  }
  auto r = run({ksight_binary(), "top", "--by", "container", "-n", "2", "-i", "700ms"});
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("CGROUP_ID      CGROUP"), std::string::npos) << out;
  EXPECT_NE(out.find("/" + name), std::string::npos) << out;
}

}  // namespace
}  // namespace ksight::test
