// ksight explain PROBE: the attach plan, programs, maps, metrics and cost of
// one probe, from the probe loaded on this kernel.
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace ksight::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Linux 5.16 added the verifier's instruction count to bpf_prog_info.
bool kernel_reports_verified_insns() {
  utsname u{};
  ::uname(&u);
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  return major > 5 || (major == 5 && minor >= 16);
}

bool jit_enabled() {
  std::ifstream f("/proc/sys/net/core/bpf_jit_enable");
  int v = 0;
  return (f >> v) && v != 0;
}

const json* find_by(const json& array, const std::string& key, const std::string& value) {
  for (const auto& e : array)
    if (e.value(key, "") == value) return &e;
  return nullptr;
}

// exec, explained while this test execs: the plan names the variant `ksight
// probes` chose, each program has its sizes and counted runs, the maps their
// memory, and the metrics the configured cap.
TEST(Explain, ExecShowsPlanProgramsMapsMetricsAndCostOfRealExecs) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  const std::string cfg = dir.file("caps.yaml");
  std::ofstream(cfg) << "metrics:\n  max_series_per_metric: 123\n";
  Child explain({ksight_binary(), "explain", "exec", "-o", "json", "-d", "2s", "--config", cfg},
                dir.file("out"), dir.file("err"));
  // Execs all through the window (and a little before and after it): wait()
  // polls every 10 ms, so about one exec per 10 ms.
  const std::string t = unique_copy("/bin/true", dir, "kexpl");
  int spawned = 0;
  std::optional<int> code;
  while (!code && spawned < 2000) {
    spawn_n(t, {}, 1);
    ++spawned;
    code = explain.wait(1ms);
  }
  if (!code) code = explain.wait(30s);
  const std::string out = read_file(dir.file("out"));
  ASSERT_EQ(code, 0) << read_file(dir.file("err"));
  const json doc = json::parse(out);

  EXPECT_EQ(doc["probe"], "exec");
  auto probes = json::parse(run({ksight_binary(), "probes", "--json"}).out);
  const json* row = find_by(probes, "probe", "exec");
  ASSERT_NE(row, nullptr);
  const json* chosen = find_by(doc["plan"], "outcome", "chosen");
  ASSERT_NE(chosen, nullptr) << doc["plan"].dump();
  EXPECT_EQ((*chosen)["method"], (*row)["attach"]);
  EXPECT_EQ(doc["plan"].size(), 3u);  // tp_btf, raw_tp, tracepoint

  ASSERT_EQ(doc["programs"].size(), 1u) << doc["programs"].dump();
  const json& prog = doc["programs"][0];
  EXPECT_GT(prog["xlated_insns"].get<uint64_t>(), 10u);
  if (kernel_reports_verified_insns()) {
    EXPECT_GE(prog["verified_insns"].get<uint64_t>(), prog["xlated_insns"].get<uint64_t>() / 2);
  }
  if (jit_enabled()) {
    EXPECT_GT(prog["jited_bytes"].get<uint64_t>(), 0u);
  }
  // About 2 s of execs, one every 10 ms or so here, plus the node's own. In
  // an emulated guest beside CI's other work an exec took about 100 ms: 26
  // spawned in all, 15 of them inside the window. So at least a quarter of
  // what was spawned (and 20 where that is more); none counted would be 0.
  const uint64_t want_runs = std::min<uint64_t>(20, static_cast<uint64_t>(spawned) / 4);
  EXPECT_GE(prog["runs"].get<uint64_t>(), std::max<uint64_t>(want_runs, 1))
      << "spawned " << spawned;
  EXPECT_LE(prog["runs"].get<uint64_t>(), static_cast<uint64_t>(spawned) + 10000u);
  EXPECT_GT(prog["ns_per_run"].get<uint64_t>(), 0u);

  const json* events = find_by(doc["maps"], "name", "ksight_events");
  ASSERT_NE(events, nullptr) << doc["maps"].dump();
  EXPECT_TRUE((*events)["shared"].get<bool>());
  EXPECT_GT((*events)["memlock_bytes"].get<uint64_t>(), 0u);
  uint64_t own = 0;
  for (const auto& m : doc["maps"])
    if (!m["shared"].get<bool>()) own += m["memlock_bytes"].get<uint64_t>();
  EXPECT_EQ(doc["own_map_bytes"].get<uint64_t>(), own);
  EXPECT_GT(own, 0u);

  const json* execs = find_by(doc["metrics"], "name", "ksight_process_execs_total");
  ASSERT_NE(execs, nullptr) << doc["metrics"].dump();
  EXPECT_EQ((*execs)["kind"], "counter");
  EXPECT_EQ((*execs)["max_series"], 123);
}

// A feature turned off shows in the plan as the variant skipped, with why,
// and the next one chosen; the text form says the same.
TEST(Explain, ADisabledFeatureIsASkippedVariantWithItsReason) {
  KSIGHT_REQUIRE_BPF();
  auto r = run({ksight_binary(), "explain", "exec", "-d", "100ms", "--disable-feature", "tp_btf"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("tp_btf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("raw_tp     sched/sched_process_exec"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chosen"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ksight_process_execs_total"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("own maps: "), std::string::npos) << r.out;
}

// Bad input: one line, exit 2, nothing loaded.
TEST(Explain, BadInputIsOneLineAndExitTwo) {
  auto unknown = run({ksight_binary(), "explain", "exce"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("unknown probe 'exce'; did you mean exec"), std::string::npos)
      << unknown.err;
  auto output = run({ksight_binary(), "explain", "exec", "-o", "yaml"});
  EXPECT_EQ(output.code, 2);
  EXPECT_NE(output.err.find("-o: expected text or json"), std::string::npos) << output.err;
  auto duration = run({ksight_binary(), "explain", "exec", "-d", "forever"});
  EXPECT_EQ(duration.code, 2);
  EXPECT_NE(duration.err.find("--duration"), std::string::npos) << duration.err;
  for (const auto* r : {&unknown, &output, &duration})
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
}

// explain losses reads a daemon: none there is one line and exit 1; a page
// that is not ksight's, the same.
TEST(Explain, LossesWithoutADaemonIsOneLineAndExitOne) {
  const int port = free_port();
  auto down = run({ksight_binary(), "explain", "losses", "--url",
                   "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  EXPECT_EQ(down.code, 1);
  EXPECT_NE(down.err.find("cannot read the daemon's metrics at http://127.0.0.1:"),
            std::string::npos)
      << down.err;
  auto format = run({ksight_binary(), "explain", "losses", "-o", "yaml"});
  EXPECT_EQ(format.code, 2);
  EXPECT_NE(format.err.find("-o: expected text or json"), std::string::npos) << format.err;
  auto flag = run({ksight_binary(), "run", "--otlp-histograms", "linear"});
  EXPECT_EQ(flag.code, 2);
  EXPECT_NE(flag.err.find("--otlp-histograms: expected exponential or explicit, got 'linear'"),
            std::string::npos)
      << flag.err;
  for (const auto* r : {&down, &format, &flag})
    EXPECT_EQ(std::count(r->err.begin(), r->err.end(), '\n'), 1) << r->err;
}

}  // namespace
}  // namespace ksight::test
