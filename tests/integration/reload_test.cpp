// Issue 14, part 5: `ksight check-config FILE`, and SIGHUP reloading the
// configuration of a running daemon (docs/configuration.md, "Reloading").
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  // Written whole, then renamed in: the daemon never reads half a file.
  std::string tmp = dir.file(name + ".tmp");
  std::ofstream(tmp) << text;
  ::chmod(tmp.c_str(), 0644);
  std::rename(tmp.c_str(), dir.file(name).c_str());
  return dir.file(name);
}

int lines_in(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

int lines_with(const std::string& text, const std::string& what) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
  return n;
}

// Names of the BPF programs the process `pid` holds a descriptor of (its
// /proc fdinfo gives their ids), from the kernel through bpftool.
std::vector<std::string> programs_of(pid_t pid) {
  std::set<int> ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::istringstream in(read_file(e.path().string()));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("prog_id:", 0) == 0) ids.insert(std::stoi(line.substr(8)));
  }
  auto r = run({"/usr/sbin/bpftool", "-j", "prog", "show"});
  std::vector<std::string> names;
  if (r.code != 0) return names;
  for (const auto& p : nlohmann::json::parse(r.out))
    if (p.contains("id") && p.contains("name") && ids.count(p["id"].get<int>()))
      names.push_back(p["name"]);
  return names;
}

int programs_with_prefix(pid_t pid, const std::string& prefix) {
  int n = 0;
  for (const auto& name : programs_of(pid)) n += name.rfind(prefix, 0) == 0;
  return n;
}

const std::vector<std::pair<std::string, std::string>> kBadFiles = {
    {"probes: [exce]\n", "'probes'"},
    {"channel:\n  size: 1KiB\n", "'channel.size'"},
    {"web:\n  tls_cert_file: /x.pem\n", "'web.tls_key_file'"},
    {"nonsense: 1\n", "'nonsense'"},
    {"channel: {size: 8MiB\n", "line "},
};

void check_config_as(const std::vector<std::string>& prefix, const TempDir& dir) {
  auto argv = [&](const std::string& file) {
    std::vector<std::string> a = prefix;
    for (const auto& s : {std::string(ksight_binary()), std::string("check-config"), file})
      a.push_back(s);
    return a;
  };
  std::string good = write_file(dir, "good.yaml", "probes: [exec, open]\nlog_level: warn\n");
  auto r = run(argv(good));
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(good + ": ok", 0), 0u) << r.out;
  EXPECT_EQ(lines_in(r.out), 1) << r.out;
  EXPECT_NE(r.out.find("exec,open"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  int i = 0;
  for (const auto& [yaml, key] : kBadFiles) {
    std::string bad = write_file(dir, "bad" + std::to_string(i++) + ".yaml", yaml);
    auto b = run(argv(bad));
    EXPECT_EQ(b.code, 2) << yaml << b.err;
    EXPECT_EQ(lines_in(b.err), 1) << yaml << b.err;
    EXPECT_NE(b.err.find(bad + ":"), std::string::npos) << yaml << b.err;
    EXPECT_NE(b.err.find(key), std::string::npos) << yaml << b.err;
    EXPECT_EQ(b.out, "");
    // The very line `run --config` prints.
    if (prefix.empty()) {
      auto rr = run({ksight_binary(), "run", "--config", bad}, 10s);
      EXPECT_EQ(rr.code, 2);
      EXPECT_EQ(rr.err, b.err);
    }
  }
  auto missing = run(argv(dir.file("missing.yaml")));
  EXPECT_EQ(missing.code, 2) << missing.err;
  EXPECT_EQ(lines_in(missing.err), 1) << missing.err;
}

TEST(CheckConfig, GoodFileIsOkAndEachBadFileIsOneLineNamingTheKey) {
  TempDir dir;
  check_config_as({}, dir);
}

// Loads nothing: an unprivileged user can check a file.
TEST(CheckConfig, WorksAsAnUnprivilegedUser) {
  KSIGHT_REQUIRE_BPF();  // root, to switch to nobody
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::vector<std::string> as_nobody = {"/usr/bin/setpriv", "--reuid=nobody",
                                              "--regid=nogroup",  "--clear-groups",
                                              "--inh-caps=-all",  "--bounding-set=-all"};
  auto id = as_nobody;
  id.push_back("/usr/bin/id");
  id.push_back("-u");
  ASSERT_EQ(run(id).out, "65534\n");
  // What check-config spares: `run` itself cannot load anything as nobody.
  auto run_argv = as_nobody;
  for (const auto& a : {std::string(ksight_binary()), std::string("run"), std::string("--listen"),
                        std::string("127.0.0.1:0")})
    run_argv.push_back(a);
  EXPECT_NE(run(run_argv, 10s).code, 0);
  check_config_as({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                   "--inh-caps=-all", "--bounding-set=-all"},
                  dir);
}

std::string execs_of(const std::string& bin) {
  return "ksight_process_execs_total{comm=\"" + comm_of(bin) + "\"}";
}

// Sends SIGHUP and waits for the first reload with `result` (ok, error) to
// be counted; `body` keeps the last scrape.
bool reload(Daemon& d, const std::string& result, std::string& body) {
  ::kill(d.pid(), SIGHUP);
  const std::string counter = "ksight_config_reloads_total{result=\"" + result + "\"}";
  return eventually(
      [&] {
        body = d.scrape();
        return metric(body, counter) == 1;
      },
      10s);
}

TEST(Reload, SighupAddsAndRemovesProbesAndKeptProbesCountOn) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string cfg = write_file(dir, "ksight.yaml", "probes: [exec, exit]\n");
  // Loading a probe later needs the capabilities that are otherwise dropped
  // after attach (Reload.AProbeAddedAfterTheDropStaysOffAndSaysWhy).
  Daemon d(dir, {"--config", cfg, "--keep-capabilities", "all"});
  ASSERT_TRUE(d.wait_ready({"exec", "exit"})) << d.log();
  std::string bin = unique_copy("/bin/true", dir, "krl");
  spawn_n(bin, {}, 5);
  std::string body;
  ASSERT_TRUE(eventually([&] { return metric(body = d.scrape(), execs_of(bin)) == 5; }, 10s))
      << body;
  const double received = metric_sum(body, "ksight_events_received_total", {"probe=\"exec\""});
  EXPECT_GT(received, 0);
  EXPECT_GT(programs_with_prefix(d.pid(), "exit_"), 0);
  EXPECT_EQ(programs_with_prefix(d.pid(), "open_"), 0);
  EXPECT_EQ(metric(body, "ksight_config_reloads_total{result=\"ok\"}"), 0);
  const double loaded_at =
      metric(body, "ksight_config_last_reload_success_timestamp_seconds").value_or(0);
  EXPECT_GT(loaded_at, 1.6e9);

  write_file(dir, "ksight.yaml", "probes: [exec, open]\n");
  ASSERT_TRUE(reload(d, "ok", body)) << body << d.log();
  // exit: detached, and its agent series gone (not 0: 0 means "configured
  // but off", which would be an alert); open: attached.
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"exit\""}), 0) << body;
  EXPECT_EQ(body.find("ksight_probe_up{probe=\"exit\""), std::string::npos) << body;
  EXPECT_EQ(body.find("ksight_bpf_program_runs_total{probe=\"exit\""), std::string::npos);
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"open\""}), 1) << body;
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"exec\""}), 1) << body;
  EXPECT_EQ(programs_with_prefix(d.pid(), "exit_"), 0);
  EXPECT_GT(programs_with_prefix(d.pid(), "open_"), 0);
  EXPECT_GE(metric(body, "ksight_config_last_reload_success_timestamp_seconds").value_or(0),
            loaded_at);
  EXPECT_EQ(metric(body, "ksight_config_last_reload_successful"), 1);
  // exec was never detached: no reset, and it keeps counting.
  EXPECT_EQ(metric(body, execs_of(bin)), 5);
  EXPECT_GE(metric_sum(body, "ksight_events_received_total", {"probe=\"exec\""}), received);
  spawn_n(bin, {}, 3);
  run({KSIGHT_WORK, "open-missing", "50"});
  EXPECT_TRUE(eventually(
      [&] {
        body = d.scrape();
        return metric(body, execs_of(bin)) == 8 &&
               metric_sum(body, "ksight_file_opens_total", {"result=\"ENOENT\""}) >= 50;
      },
      10s))
      << body;
  EXPECT_EQ(lines_with(d.log(), "config reloaded"), 1) << d.log();
  EXPECT_EQ(metric_sum(body, "ksight_events_lost_total", {"reason=\"malformed\""}), 0) << body;
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Reload, AProbeAddedAfterTheDropStaysOffAndSaysWhy) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string cfg = write_file(dir, "ksight.yaml", "probes: [exec]\n");
  Daemon d(dir, {"--config", cfg});  // the default: capabilities dropped after attach
  ASSERT_TRUE(d.wait_ready({"exec"})) << d.log();
  write_file(dir, "ksight.yaml", "probes: [exec, open]\n");
  std::string body;
  ASSERT_TRUE(reload(d, "ok", body)) << body << d.log();
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"open\""}), 0) << body;
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"exec\""}), 1) << body;
  EXPECT_EQ(programs_with_prefix(d.pid(), "open_"), 0);
  // One line names the probe and why it is off.
  std::string log = d.log();
  EXPECT_NE(log.find("open"), std::string::npos) << log;
  EXPECT_NE(log.find("--keep-capabilities all"), std::string::npos) << log;
  EXPECT_TRUE(log.find("not permitted") != std::string::npos ||
              log.find("EPERM") != std::string::npos)
      << log;
  EXPECT_EQ(d.stop(), 0) << d.log();
}

TEST(Reload, BadFileIsOneLineAndEverythingKeepsRunning) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string cfg = write_file(dir, "ksight.yaml", "probes: [exec, exit]\n");
  Daemon d(dir, {"--config", cfg});
  ASSERT_TRUE(d.wait_ready({"exec", "exit"})) << d.log();
  std::string bin = unique_copy("/bin/true", dir, "krb");
  const int exit_programs = programs_with_prefix(d.pid(), "exit_");
  EXPECT_GT(exit_programs, 0);

  write_file(dir, "ksight.yaml", "probes: [exec]\nchannel:\n  size: 1KiB\n");
  std::string body;
  ASSERT_TRUE(reload(d, "error", body)) << body << d.log();
  EXPECT_EQ(metric(body, "ksight_config_reloads_total{result=\"ok\"}"), 0);
  EXPECT_EQ(metric(body, "ksight_config_last_reload_successful"), 0);
  std::string log = d.log();
  EXPECT_EQ(lines_with(log, "config reload failed"), 1) << log;
  EXPECT_EQ(lines_with(log, "'channel.size'"), 1) << log;
  // The old configuration runs on: both probes attached, still counting.
  EXPECT_EQ(metric_sum(body, "ksight_probe_up", {"probe=\"exit\""}), 1) << body;
  EXPECT_EQ(programs_with_prefix(d.pid(), "exit_"), exit_programs);
  spawn_n(bin, {}, 4);
  EXPECT_TRUE(eventually(
      [&] {
        body = d.scrape();
        return metric(body, execs_of(bin)) == 4 &&
               metric_sum(body, "ksight_process_exits_total", {"comm=\"" + comm_of(bin) + "\""}) ==
                   4;
      },
      10s))
      << body;

  // A valid file changing a key that needs a restart: one line for it, the
  // running value stays, and the rest applies.
  const double size = metric_sum(body, "ksight_event_channel_size_bytes");
  write_file(dir, "ksight.yaml", "probes: [exec, exit]\nchannel:\n  size: 64KiB\n");
  ASSERT_TRUE(reload(d, "ok", body)) << body << d.log();
  log = d.log();
  EXPECT_EQ(lines_with(log, "channel.size changed: needs a restart"), 1) << log;
  EXPECT_EQ(metric_sum(body, "ksight_event_channel_size_bytes"), size);
  EXPECT_EQ(metric(body, "ksight_config_last_reload_successful"), 1);
  EXPECT_EQ(metric(body, "ksight_config_reloads_total{result=\"error\"}"), 1);
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// Without --config there is nothing to re-read: SIGHUP reopens the output
// files only (Hostile.SighupReopensTheEventsFile) and counts no reload.
TEST(Reload, WithoutConfigSighupReadsNothing) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "exec"});
  ASSERT_TRUE(d.wait_ready({"exec"})) << d.log();
  ::kill(d.pid(), SIGHUP);
  ASSERT_TRUE(eventually([&] { return lines_with(d.log(), "SIGHUP: reopened") == 2; }, 5s))
      << d.log();
  std::string body = d.scrape();
  EXPECT_EQ(metric(body, "ksight_config_reloads_total{result=\"ok\"}"), 0) << body;
  EXPECT_EQ(metric(body, "ksight_config_reloads_total{result=\"error\"}"), 0) << body;
  EXPECT_EQ(lines_with(d.log(), "config reload"), 0) << d.log();
  EXPECT_EQ(d.stop(), 0) << d.log();
}

}  // namespace
}  // namespace ksight::test
