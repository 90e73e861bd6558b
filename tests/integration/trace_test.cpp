// ksight trace, driven as a user would: real programs, exact output.
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "harness.h"
#include "runtime/cgroup.h"
#include "testnet.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Starts a trace and waits until its probes are attached (it says so at info).
std::unique_ptr<Child> start_trace(const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv{ksight_binary(), "trace"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--log-level");
  argv.push_back("info");
  auto c = std::make_unique<Child>(argv, dir.file("trace.out"), dir.file("trace.err"));
  EXPECT_TRUE(eventually(
      [&] { return read_file(dir.file("trace.err")).find("attached") != std::string::npos; }, 15s))
      << read_file(dir.file("trace.err"));
  return c;
}

TEST(Trace, JsonLinesForExactlyTheFilteredCommand) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "ktj");
  auto trace = start_trace(dir, {"exec", "-o", "json", "--comm", comm_of(bin)});
  spawn_n(bin, {"one", "two"}, 50);
  spawn_n("/bin/true", {}, 10);  // another command: filtered out in the kernel
  std::this_thread::sleep_for(300ms);
  trace->signal(SIGINT);
  ASSERT_EQ(trace->wait(10s), 0);
  auto lines = read_lines(dir.file("trace.out"));
  ASSERT_EQ(lines.size(), 50u) << read_file(dir.file("trace.err"));
  for (const auto& l : lines) {
    json ev = json::parse(l);
    EXPECT_EQ(ev["probe"], "exec");
    EXPECT_EQ(ev["comm"], comm_of(bin));
    EXPECT_EQ(ev["filename"], bin);
    EXPECT_EQ(ev["args"], bin + " one two");
    EXPECT_EQ(ev["ppid"], ::getpid());
    EXPECT_GT(ev["pid"].get<int>(), 0);
  }
  EXPECT_NE(read_file(dir.file("trace.err")).find("50 events printed, 0 lost"), std::string::npos);
  std::printf("[ seen ] %zu exec events of 50 execs\n", lines.size());
}

// --unit: a cgroup-id set in the kernel, kept current while the trace runs,
// so a unit created after the trace started is followed too.
TEST(Trace, UnitFilterFollowsCgroupsMadeAfterTheTraceStarted) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string slice_name = "ksight-unit-" + std::to_string(::getpid()) + ".slice";
  auto slice = runtime::ScopedCgroup::create(slice_name);
  ASSERT_TRUE(slice.has_value()) << slice.error();
  std::string bin = unique_copy("/bin/true", dir, "ktu");
  auto trace = start_trace(dir, {"exec", "-o", "json", "--unit", slice_name});
  auto work = runtime::ScopedCgroup::create(slice->path(), "work.service");
  ASSERT_TRUE(work.has_value()) << work.error();
  std::this_thread::sleep_for(1500ms);  // the tracer rescans every second
  EXPECT_EQ(run_in_cgroup(*work,
                          [&] {
                            spawn_n(bin, {"in"}, 20);
                            return 0;
                          }),
            0);
  spawn_n(bin, {"out"}, 10);  // outside the unit: filtered out in the kernel
  std::this_thread::sleep_for(300ms);
  trace->signal(SIGINT);
  ASSERT_EQ(trace->wait(10s), 0);
  auto lines = read_lines(dir.file("trace.out"));
  size_t ours = 0;
  for (const auto& l : lines) {
    json ev = json::parse(l);
    EXPECT_EQ(ev["cgroup_id"], work->id()) << ev;
    EXPECT_EQ(ev["unit"], "work.service") << ev;
    ours += ev["filename"] == bin;
  }
  EXPECT_EQ(ours, 20u) << read_file(dir.file("trace.err"));
  EXPECT_EQ(lines.size(), 20u) << read_file(dir.file("trace.out"));
  std::printf("[ seen ] %zu exec events in unit %s/work.service of 20\n", ours, slice_name.c_str());
}

TEST(Trace, CountStopsAfterN) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "ktc");
  auto trace = start_trace(dir, {"exec", "--comm", comm_of(bin), "--count", "5"});
  spawn_n(bin, {}, 20);
  ASSERT_EQ(trace->wait(10s), 0) << "trace did not stop by itself after --count 5";
  auto lines = read_lines(dir.file("trace.out"));
  ASSERT_EQ(lines.size(), 6u);  // header + 5
  EXPECT_NE(lines[0].find("PID"), std::string::npos);
  EXPECT_NE(lines[0].find("FILENAME"), std::string::npos);
  for (size_t i = 1; i < lines.size(); ++i)
    EXPECT_NE(lines[i].find(comm_of(bin)), std::string::npos);
}

TEST(Trace, PidFilterAndSignalledExit) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Child victim({"/bin/sleep", "30"}, "", "");
  Child bystander({"/bin/sleep", "30"}, "", "");
  auto trace = start_trace(dir, {"exit", "-o", "json", "-p", std::to_string(victim.pid())});
  bystander.signal(SIGKILL);
  victim.signal(SIGKILL);
  victim.wait(5s);
  bystander.wait(5s);
  ASSERT_TRUE(eventually([&] { return !read_lines(dir.file("trace.out")).empty(); }, 5s));
  trace->signal(SIGTERM);
  ASSERT_EQ(trace->wait(10s), 0);
  auto lines = read_lines(dir.file("trace.out"));
  ASSERT_EQ(lines.size(), 1u);
  json ev = json::parse(lines[0]);
  EXPECT_EQ(ev["pid"], victim.pid());
  EXPECT_EQ(ev["signal"], "SIGKILL");
  EXPECT_FALSE(ev.contains("exit_code"));
}

TEST(Trace, DurationEndsTheTrace) {
  KSIGHT_REQUIRE_BPF();
  auto start = std::chrono::steady_clock::now();
  auto r =
      run({ksight_binary(), "trace", "exit", "--duration", "1s", "--comm", "nosuchcommand"}, 15s);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_GE(took, 1s);
  EXPECT_NE(r.err.find("0 events printed"), std::string::npos) << r.err;
}

TEST(Trace, CommandTreeOnlyAndItsExitCode) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  // Busy work outside the traced tree, running all along: never printed.
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    while (!stop) spawn_n("/bin/true", {}, 1);
  });
  auto r = run({ksight_binary(), "trace", "exec", "-o", "json", "--", "/bin/sh", "-c",
                "for i in $(seq 50); do /bin/true; done; exit 7"},
               60s);
  stop = true;
  noise.join();
  EXPECT_EQ(r.code, 7) << r.err;  // the command's exit code
  int trues = 0, total = 0;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    json ev = json::parse(line);
    ++total;
    if (ev["filename"] == "/bin/true") {
      ++trues;
      EXPECT_NE(ev["ppid"], ::getpid()) << "an exec from outside the traced tree: " << line;
    }
  }
  EXPECT_EQ(trues, 50) << r.out;
  EXPECT_EQ(total, 52) << r.out;  // sh, seq and the 50 /bin/true
}

TEST(Trace, OpenCountsEveryFailedOpenOfAMissingPath) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  // cat of 40 missing files: 40 ENOENT opens of exactly those paths, beside
  // whatever cat opens on its own (locale files, some of them missing too).
  std::vector<std::string> args{"/bin/sh", "-c", "", "sh"};
  std::string script =
      "for i in $(seq 40); do cat " + dir.path() + "/missing-$i 2>/dev/null; done; exit 0";
  args[2] = script;
  std::vector<std::string> argv{ksight_binary(), "trace", "open", "--failed", "-o", "json", "--"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run(argv, 60s);
  EXPECT_EQ(r.code, 0) << r.err;
  int missing = 0, other_ok = 0;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    json ev = json::parse(line);
    if (ev.contains("fd")) ++other_ok;  // --failed: must not happen
    if (ev.value("path", "").rfind(dir.path() + "/missing-", 0) == 0) {
      EXPECT_EQ(ev["error"], "ENOENT");
      EXPECT_EQ(ev["comm"], "cat");
      ++missing;
    }
  }
  EXPECT_EQ(missing, 40) << r.out;
  EXPECT_EQ(other_ok, 0);
  std::printf("[ seen ] %d ENOENT opens of 40 missing files\n", missing);
}

TEST(Trace, RunqlatHistogramCountsWaitsUnderLoad) {
  KSIGHT_REQUIRE_BPF();
  // Three busy loops on two CPUs: tasks wait for a CPU all the time. Each is
  // our direct child, so the Child destructors kill the loops themselves.
  std::vector<std::unique_ptr<Child>> busy;
  for (int i = 0; i < 3; ++i)
    busy.push_back(std::make_unique<Child>(
        std::vector<std::string>{"/bin/sh", "-c", "while :; do :; done"}, "", ""));
  auto r = run({ksight_binary(), "trace", "runqlat", "--duration", "2s"}, 30s);
  EXPECT_EQ(r.code, 0) << r.err;
  ASSERT_NE(r.out.find("usecs : count"), std::string::npos) << r.out;
  // Sum the count column: every line "lo -> hi : count |bar|".
  uint64_t samples = 0;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    auto arrow = line.find(" -> "), colon = line.find(" : ");
    if (arrow != std::string::npos && colon != std::string::npos)
      samples += std::stoull(line.substr(colon + 3));
  }
  EXPECT_GT(samples, 100u) << r.out;
  std::printf("[ seen ] %llu run-queue waits in 2 s of 3 busy loops\n",
              static_cast<unsigned long long>(samples));
  for (auto& b : busy) b->signal(SIGKILL);
}

TEST(Trace, FailedShowsOnlyFailures) {
  KSIGHT_REQUIRE_BPF();
  auto r = run({ksight_binary(), "trace", "exit", "--failed", "-o", "json", "--", "/bin/sh", "-c",
                "/bin/true; /bin/false; /bin/sh -c 'exit 4'"},
               30s);
  EXPECT_EQ(r.code, 4) << r.err;
  std::vector<std::pair<std::string, int>> seen;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    json ev = json::parse(line);
    seen.emplace_back(ev["comm"], ev.value("exit_code", -1));
  }
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, int>>{{"false", 1}, {"sh", 4}, {"sh", 4}}))
      << r.out;
  std::printf("[ seen ] %zu failed exits (codes 1, 4, 4) of 5 processes\n", seen.size());
}

}  // namespace
}  // namespace ksight::test
