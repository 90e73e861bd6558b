// ksight run, end to end: real programs, real execs, exact counts on
// /metrics, in the OTLP file and in the JSON lines.
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Counts of events in a JSON lines file for one command, by probe.
std::map<std::string, int> count_events(const std::string& path, const std::string& comm,
                                        const std::function<bool(const json&)>& extra = nullptr) {
  std::map<std::string, int> out;
  for (const auto& line : read_lines(path)) {
    json ev = json::parse(line);
    if (ev["comm"] != comm) continue;
    if (extra && !extra(ev)) continue;
    out[ev["probe"]]++;
  }
  return out;
}

// Runs the workload the foundation issue names and checks every output.
void exec_exit_end_to_end(std::vector<std::string> extra, int n_true, int n_exit3) {
  TempDir dir;
  std::string true_bin = unique_copy("/bin/true", dir, "kst");
  std::string sh_bin = unique_copy("/bin/sh", dir, "ksx");
  std::string t = comm_of(true_bin), x = comm_of(sh_bin);
  Daemon d(dir, extra);
  ASSERT_TRUE(d.wait_ready()) << d.log();

  spawn_n(true_bin, {}, n_true);
  spawn_n(sh_bin, {"-c", "exit 3"}, n_exit3);

  const std::string execs_t = "ksight_process_execs_total{comm=\"" + t + "\"}";
  const std::string exits_t =
      "ksight_process_exits_total{comm=\"" + t + "\",exit_code=\"0\",signal=\"\"}";
  const std::string execs_x = "ksight_process_execs_total{comm=\"" + x + "\"}";
  const std::string exits_x =
      "ksight_process_exits_total{comm=\"" + x + "\",exit_code=\"3\",signal=\"\"}";
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        text = d.scrape();
        return metric(text, exits_x).value_or(0) >= n_exit3 &&
               metric(text, exits_t).value_or(0) >= n_true;
      },
      15s))
      << text;
  EXPECT_EQ(metric(text, execs_t), n_true);
  EXPECT_EQ(metric(text, exits_t), n_true);
  EXPECT_EQ(metric(text, execs_x), n_exit3);
  EXPECT_EQ(metric(text, exits_x), n_exit3);
  for (const char* probe : {"exec", "exit"}) {
    for (const char* reason : {"buffer_full", "queue_full", "malformed"}) {
      std::string s = std::string("ksight_events_lost_total{probe=\"") + probe + "\",reason=\"" +
                      reason + "\"}";
      EXPECT_EQ(metric(text, s), 0) << s;
    }
    EXPECT_GE(metric(text, std::string("ksight_events_received_total{probe=\"") + probe + "\"}")
                  .value_or(0),
              n_true + n_exit3);
  }
  // Self-metrics that must be there and move.
  EXPECT_GT(metric(text, "ksight_agent_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_TRUE(metric(text, "ksight_agent_cpu_seconds_total").has_value());
  EXPECT_NE(text.find("ksight_bpf_program_runs_total{probe=\"exec\""), std::string::npos);

  ASSERT_EQ(d.stop(), 0) << d.log();

  // JSON lines: exactly one exec and one exit per process, with its fields.
  auto t_events = count_events(d.events(), t);
  EXPECT_EQ(t_events["exec"], n_true);
  EXPECT_EQ(t_events["exit"], n_true);
  auto x_exec = count_events(d.events(), x, [&](const json& ev) {
    return ev["probe"] != "exec" ||
           (ev["filename"] == sh_bin && ev["args"] == sh_bin + " -c exit 3");
  });
  EXPECT_EQ(x_exec["exec"], n_exit3);
  auto x_exit3 = count_events(d.events(), x, [](const json& ev) {
    return ev["probe"] != "exit" || ev.value("exit_code", -1) == 3;
  });
  EXPECT_EQ(x_exit3["exit"], n_exit3);

  // OTLP: the last metrics document has the final counts; log records carry
  // every event.
  json last_metrics;
  int exec_records = 0, exit3_records = 0;
  for (const auto& line : read_lines(d.otlp())) {
    json doc = json::parse(line);
    if (doc.contains("resourceMetrics")) last_metrics = doc;
    if (!doc.contains("resourceLogs")) continue;
    for (const auto& r : doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) {
      std::map<std::string, json> a;
      for (const auto& kv : r["attributes"]) a[kv["key"]] = kv["value"];
      if (r["body"]["stringValue"] == "exec" && a["process.command"]["stringValue"] == t)
        ++exec_records;
      if (r["body"]["stringValue"] == "exit" && a["process.command"]["stringValue"] == x &&
          a["ksight.exit_code"]["intValue"] == "3")
        ++exit3_records;
    }
  }
  EXPECT_EQ(exec_records, n_true);
  EXPECT_EQ(exit3_records, n_exit3);
  ASSERT_FALSE(last_metrics.is_null());
  double otlp_execs = -1;
  for (const auto& m : last_metrics["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) {
    if (m["name"] != "ksight_process_execs_total") continue;
    for (const auto& p : m["sum"]["dataPoints"])
      if (p["attributes"][0]["value"]["stringValue"] == t) otlp_execs = p["asDouble"];
  }
  EXPECT_EQ(otlp_execs, n_true);
}

TEST(Daemon, CountsExecsAndExitsExactlyEverywhere) {
  KSIGHT_REQUIRE_BPF();
  exec_exit_end_to_end({}, 500, 200);
}

TEST(Daemon, PerfBufferPathDeliversTheSameEvents) {
  KSIGHT_REQUIRE_BPF();
  exec_exit_end_to_end({"--force-perf-buffer"}, 300, 100);
}

TEST(Daemon, ClassicTracepointFallbackDeliversTheSameEvents) {
  KSIGHT_REQUIRE_BPF();
  exec_exit_end_to_end({"--disable-feature", "tp_btf,raw_tp"}, 100, 50);
}

TEST(Daemon, LeavesNoProgramInTheKernelAfterSignal) {
  KSIGHT_REQUIRE_BPF();
  auto ours = [] {
    int n = 0;
    // The kernel keeps 15 characters of a program name.
    for (const auto& name : loaded_bpf_programs())
      if (name.rfind("exec_sched_pro", 0) == 0 || name.rfind("exit_sched_pro", 0) == 0) ++n;
    return n;
  };
  // The kernel frees a program shortly after its last reference goes (an
  // earlier test's killed daemon may still be on its way out): settle first.
  int before = ours();
  eventually(
      [&] {
        int now = ours();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        bool stable = now == ours();
        before = now;
        return stable;
      },
      std::chrono::seconds(5));
  for (int sig : {SIGTERM, SIGINT}) {
    TempDir dir;
    Daemon d(dir);
    ASSERT_TRUE(d.wait_ready()) << d.log();
    EXPECT_EQ(ours(), before + 2);
    ASSERT_EQ(d.stop(sig), 0) << d.log();
    EXPECT_TRUE(eventually([&] { return ours() == before; }, std::chrono::seconds(5)))
        << ours() - before << " programs left loaded after signal " << sig;
  }
}

TEST(Daemon, ServesPrometheusTextWithHelpForEveryFamily) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  int status = 0;
  std::string headers;
  auto body = http_get(d.port(), "/metrics", &status, &headers);
  ASSERT_TRUE(body);
  EXPECT_EQ(status, 200);
  EXPECT_NE(headers.find("text/plain"), std::string::npos);
  std::istringstream in(*body);
  std::string line;
  std::set<std::string> help, type;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) help.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.rfind("# TYPE ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      type.insert(name);
      if (line.ends_with(" counter") && name.rfind("ksight_", 0) == 0) {
        EXPECT_TRUE(name.ends_with("_total")) << name;
      }
    }
  }
  EXPECT_EQ(help, type);
  EXPECT_TRUE(help.count("ksight_events_lost_total"));
  EXPECT_TRUE(help.count("ksight_event_channel_fill_ratio"));
  EXPECT_TRUE(help.count("ksight_bpf_program_run_time_seconds_total"));
  ASSERT_EQ(d.stop(), 0);
}

}  // namespace
}  // namespace ksight::test
