// The binary's contract for bad input: one clear line, a non-zero exit, no
// hang. Most of these need no privileges.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;

int lines_in(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, VersionAndHelp) {
  auto v = run({ksight_binary(), "--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find("ksight 0."), std::string::npos);
  auto h = run({ksight_binary(), "trace", "--help"});
  EXPECT_EQ(h.code, 0);
  EXPECT_NE(h.out.find("EXAMPLES"), std::string::npos);
  EXPECT_NE(h.out.find("exec"), std::string::npos);
}

TEST(Cli, BadFlagIsAUsageError) {
  auto r = run({ksight_binary(), "run", "--no-such-flag"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  auto none = run({ksight_binary()});
  EXPECT_EQ(none.code, 2);
}

TEST(Cli, BadTraceAndTopValuesAreUsageErrors) {
  // Each is one line on stderr and exit 2, before anything is loaded.
  const std::vector<std::vector<std::string>> bad = {
      {"trace", "exec", "--by", "disk"},         // exec has no keys
      {"trace", "runqlat", "--by", "syscall"},   // runqlat has cgroup only
      {"trace", "open", "--rate-limit", "-5"},   // would wrap to 2^64 - 5
      {"trace", "exec", "--count", "-3"},        //
      {"trace", "profile", "--frequency", "0"},  //
      {"top", "--sort", "nope"},                 //
      {"top", "--by", "node"},
      {"trace", "exec", "--pod", "a/b/c"},
      {"trace", "exec", "--unit", "a/b.service"},
      {"run", "--kubeconfig", "/nonexistent/kubeconfig"},  // names identity.kubeconfig
      {"run", "--identity-labels", "namespace,node"},      //
      {"top", "-i", "10ms"},                               // faster than a refresh can be
      {"top", "--rows", "0"},                              //
  };
  for (const auto& args : bad) {
    std::vector<std::string> argv{ksight_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(argv, std::chrono::seconds(5));
    std::string line;
    for (const auto& a : args) line += a + " ";
    EXPECT_EQ(r.code, 2) << line << r.err;
    EXPECT_EQ(lines_in(r.err), 1) << line << r.err;
    EXPECT_EQ(r.out, "") << line;
  }
}

TEST(Cli, UnknownProbeSuggestsTheClosest) {
  auto r = run({ksight_binary(), "trace", "exce"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown probe 'exce'; did you mean exec?"), std::string::npos) << r.err;
  EXPECT_EQ(lines_in(r.err), 1) << r.err;
  auto d = run({ksight_binary(), "run", "--probes", "exec,bogus"});
  EXPECT_EQ(d.code, 2);
  EXPECT_NE(d.err.find("unknown probe 'bogus'"), std::string::npos) << d.err;
}

TEST(Cli, BadDurationAndConfig) {
  auto r = run({ksight_binary(), "trace", "exec", "--duration", "10 seconds"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("invalid duration"), std::string::npos) << r.err;

  TempDir dir;
  std::ofstream(dir.file("bad.yaml")) << "channel:\n  size: huge\n";
  auto c = run({ksight_binary(), "run", "--config", dir.file("bad.yaml")});
  EXPECT_EQ(c.code, 2);
  EXPECT_NE(c.err.find(dir.file("bad.yaml") + ": key 'channel.size'"), std::string::npos) << c.err;
  EXPECT_EQ(lines_in(c.err), 1) << c.err;

  auto missing = run({ksight_binary(), "run", "--config", "/nonexistent.yaml"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_EQ(lines_in(missing.err), 1) << missing.err;
}

TEST(Cli, TraceCommandAndCgroupMistakes) {
  auto none = run({ksight_binary(), "trace", "exec", "--"});
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("nothing after --"), std::string::npos) << none.err;
  auto cg = run({ksight_binary(), "trace", "exec", "--cgroup", "/no-such-cgroup"});
  EXPECT_EQ(cg.code, 2);
  EXPECT_NE(cg.err.find("--cgroup: no"), std::string::npos) << cg.err;
  auto run_dash = run({ksight_binary(), "run", "--", "/bin/true"});
  EXPECT_EQ(run_dash.code, 2);
}

TEST(Cli, PortInUseIsARuntimeFailure) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  auto r = run({ksight_binary(), "run", "--listen", "127.0.0.1:" + std::to_string(port)}, 15s);
  ::close(fd);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot serve /metrics on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.err;
}

// The AVAILABLE column of one probe's row in `ksight probes` (whatever the
// column widths).
std::string available(const std::string& table, const std::string& probe) {
  std::istringstream in(table);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string name, avail;
    if (row >> name >> avail && name == probe) return avail;
  }
  return "";
}

TEST(Cli, ProbesListsWhatThisKernelAllows) {
  KSIGHT_REQUIRE_BPF();
  auto r = run({ksight_binary(), "probes"});
  EXPECT_EQ(r.code, 0);
  auto row = [](const std::string& out, const std::string& pattern) {
    return std::regex_search(out, std::regex("\\n" + pattern));
  };
  EXPECT_EQ(available(r.out, "exec"), "yes") << r.out;
  EXPECT_TRUE(row(r.out, R"(exec +yes +on +tp_btf)")) << r.out;
  EXPECT_TRUE(row(r.out, R"(syscalls +yes +off +tp_btf +raw_syscalls/sys_exit)")) << r.out;
  EXPECT_TRUE(row(r.out, R"(oomkill +yes +on +tracepoint +oom/mark_victim)")) << r.out;
  EXPECT_TRUE(row(r.out, R"(profile +yes +off +perf_event +cpu-clock)")) << r.out;
  auto forced = run({ksight_binary(), "probes", "--disable-feature", "tp_btf,raw_tp,tracepoint"});
  EXPECT_EQ(available(forced.out, "exec"), "no") << forced.out;
  EXPECT_NE(forced.out.find("tracepoint sched/sched_process_exec: disabled by configuration"),
            std::string::npos);
  // A trace of a probe the kernel cannot attach says so and fails.
  auto t = run({ksight_binary(), "trace", "exec", "--disable-feature", "tp_btf,raw_tp,tracepoint"});
  EXPECT_EQ(t.code, 1);
  EXPECT_NE(t.err.find("probe exec is off"), std::string::npos) << t.err;
}

TEST(Cli, DoctorChecksTheHost) {
  KSIGHT_REQUIRE_BPF();
  auto r = run({ksight_binary(), "doctor"});
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* line : {"ok    BTF", "ok    capabilities", "  kprobes ", "  fentry ",
                           "  lockdown ", "exec     via ", "ksight can run here."}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  // A missing fentry or kprobes is a warning with what it costs, never a failure.
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ksight::test
