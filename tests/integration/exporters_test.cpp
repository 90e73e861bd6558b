// ksight's outputs checked by clients other people wrote: promtool, a real
// Prometheus server, the OpenTelemetry schema (via the project's own npm
// package), curl over TLS, and an OTLP/HTTP receiver.
#include <crypt.h>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "harness.h"
#include "otlp_receiver.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// node tests/otlp/validate.js FILE...; the npm packages come from scripts/setup.
RunResult validate_otlp(const std::vector<std::string>& files) {
  std::vector<std::string> argv{"/usr/bin/env", "node",
                                std::string(KSIGHT_SOURCE_DIR) + "/tests/otlp/validate.js"};
  argv.insert(argv.end(), files.begin(), files.end());
  return run(argv, 60s);
}

std::string write_file(const TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

TEST(Prometheus, PromtoolAcceptsLiveMetricsAndSeriesAreWellFormed) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "exec,exit,open,runqlat"});
  ASSERT_TRUE(d.wait_ready({"exec", "exit", "open", "runqlat"})) << d.log();
  spawn_n("/bin/true", {}, 5);
  std::string body;
  ASSERT_TRUE(eventually(
      [&] {
        body = d.scrape();
        return body.find("ksight_file_opens_total{") != std::string::npos &&
               body.find("ksight_runqueue_latency_seconds_count{") != std::string::npos;
      },
      10s));
  std::string file = write_file(dir, "metrics.txt", body);
  auto r = run({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "promtool lint findings";

  // What promtool 2.42 does not catch: duplicate series, histograms without
  // +Inf or whose +Inf bucket disagrees with _count.
  std::set<std::string> series;
  std::map<std::string, double> inf, count;
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::string key = line.substr(0, line.rfind(' '));
    EXPECT_TRUE(series.insert(key).second) << "duplicate series " << key;
    double v = std::stod(line.substr(line.rfind(' ') + 1));
    auto b = key.find("_bucket{");
    if (b != std::string::npos && key.find("le=\"+Inf\"") != std::string::npos)
      inf[key.substr(0, b)] = v;
    auto c = key.find("_count");
    if (c != std::string::npos && c + 6 == key.find_first_of("{ ", c) + 0)
      count[key.substr(0, c)] = v;
    if (c != std::string::npos && c + 6 == key.size()) count[key.substr(0, c)] = v;
  }
  EXPECT_FALSE(count.empty());
  for (const auto& [name, n] : count) {
    ASSERT_TRUE(inf.count(name)) << name << " has no le=\"+Inf\" bucket";
    EXPECT_EQ(inf[name], n) << name;
  }
  ASSERT_EQ(d.stop(), 0);
}

TEST(Prometheus, RealServerScrapesAndQueriesTheWorkload) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "ksp");
  Daemon d(dir, {}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  int prom_port = free_port();
  std::string cfg = write_file(dir, "prometheus.yml",
                               "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                               "scrape_configs:\n  - job_name: ksight\n    static_configs:\n"
                               "      - targets: ['127.0.0.1:" +
                                   std::to_string(d.port()) + "']\n");
  Child prom(
      {"/usr/bin/prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + dir.file("tsdb"),
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      dir.file("prom.out"), dir.file("prom.err"));
  auto query = [&](const std::string& promql) -> std::optional<double> {
    std::string q;
    for (char c : promql) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_')
        q += c;
      else {
        char buf[4];
        std::snprintf(buf, sizeof(buf), "%%%02X", static_cast<unsigned char>(c));
        q += buf;
      }
    }
    auto body = http_get(prom_port, "/api/v1/query?query=" + q);
    if (!body) return std::nullopt;
    try {
      auto j = json::parse(*body);
      const auto& result = j["data"]["result"];
      if (result.empty()) return std::nullopt;
      return std::stod(result[0]["value"][1].get<std::string>());
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  ASSERT_TRUE(eventually([&] { return query("up{job=\"ksight\"}") == 1.0; }, 30s))
      << read_file(dir.file("prom.err"));
  spawn_n(bin, {}, 100);
  const std::string execs = "ksight_process_execs_total{comm=\"" + comm_of(bin) + "\"}";
  const std::string exits =
      "sum(ksight_process_exits_total{comm=\"" + comm_of(bin) + "\",exit_code=\"0\"})";
  EXPECT_TRUE(eventually([&] { return query(execs) == 100.0 && query(exits) == 100.0; }, 20s))
      << query(execs).value_or(-1) << " " << query(exits).value_or(-1);
  EXPECT_EQ(query("up{job=\"ksight\"}"), 1.0);
  prom.signal(SIGTERM);
  prom.wait(10s);
  ASSERT_EQ(d.stop(), 0);
}

TEST(Http, HealthzReadyzAndContentType) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  int status = 0;
  std::string headers;
  EXPECT_EQ(http_get(d.port(), "/healthz", &status), "ok\n");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(http_get(d.port(), "/readyz", &status), "ready\n");
  EXPECT_EQ(status, 200);
  http_get(d.port(), "/metrics", &status, &headers);
  EXPECT_NE(headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            std::string::npos)
      << headers;
  http_get(d.port(), "/nothing-here", &status);
  EXPECT_EQ(status, 404);
  ASSERT_EQ(d.stop(), 0);

  // A probe that cannot attach anywhere: ready says which and why.
  TempDir dir2;
  Daemon off(dir2, {"--probes", "exec,open", "--disable-feature", "tracepoint,fentry"}, false);
  ASSERT_TRUE(off.wait_ready({"exec", "open"})) << off.log();
  // The probes' rows appear once each is tried; the verdict, once start-up
  // (capability drop included) is over.
  std::optional<std::string> body;
  EXPECT_TRUE(eventually(
      [&] {
        body = http_get(off.port(), "/readyz", &status);
        return body && body->find("probes are loading") == std::string::npos;
      },
      10s))
      << body.value_or("");
  EXPECT_EQ(status, 503);
  EXPECT_NE(body.value_or("").find("probe open is off"), std::string::npos) << body.value_or("");
  ASSERT_EQ(off.stop(), 0);
}

std::string bcrypt(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_data data{};
  EXPECT_NE(crypt_gensalt_rn("$2b$", 5, nullptr, 0, salt, sizeof(salt)), nullptr);
  return crypt_r(password.c_str(), salt, &data);
}

TEST(Http, BasicAuthGuardsMetrics) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string cfg = write_file(
      dir, "ksight.yaml", "web:\n  basic_auth_users:\n    alice: \"" + bcrypt("s3cret") + "\"\n");
  Daemon d(dir, {"--config", cfg}, false);
  ASSERT_TRUE(eventually([&] { return http_get(d.port(), "/healthz").has_value(); }, 15s))
      << d.log();
  std::string url = "http://127.0.0.1:" + std::to_string(d.port()) + "/metrics";
  auto code = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return run(argv).out;
  };
  EXPECT_EQ(code({}), "401");
  EXPECT_EQ(code({"-u", "alice:wrong"}), "401");
  EXPECT_EQ(code({"-u", "mallory:s3cret"}), "401");
  EXPECT_EQ(code({"-u", "alice:s3cret"}), "200");
  int status = 0;
  http_get(d.port(), "/healthz", &status);
  EXPECT_EQ(status, 200);  // orchestrator probes need no credentials
  ASSERT_EQ(d.stop(), 0);

  auto plain =
      run({ksight_binary(), "run", "--config",
           write_file(dir, "plain.yaml", "web:\n  basic_auth_users:\n    bob: hunter2\n")});
  EXPECT_EQ(plain.code, 2);
  EXPECT_NE(plain.err.find("expected a bcrypt hash"), std::string::npos) << plain.err;
}

TEST(Http, TlsScrape) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  auto gen = run({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                  dir.file("key.pem"), "-out", dir.file("cert.pem"), "-days", "1", "-subj",
                  "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"});
  ASSERT_EQ(gen.code, 0) << gen.err;
  std::string cfg = write_file(dir, "ksight.yaml",
                               "web:\n  tls_cert_file: " + dir.file("cert.pem") +
                                   "\n  tls_key_file: " + dir.file("key.pem") + "\n");
  Daemon d(dir, {"--config", cfg}, false);
  std::string url = "https://127.0.0.1:" + std::to_string(d.port()) + "/metrics";
  RunResult r;
  ASSERT_TRUE(eventually(
      [&] {
        r = run({"/usr/bin/curl", "-sS", "--fail", "--cacert", dir.file("cert.pem"), url});
        return r.code == 0 && r.out.find("ksight_probe_up{probe=\"exec\"") != std::string::npos;
      },
      15s))
      << r.err << d.log();
  // Plain HTTP on the TLS port gets no metrics.
  auto plain = run({"/usr/bin/curl", "-sS", "--fail", "--max-time", "5",
                    "http://127.0.0.1:" + std::to_string(d.port()) + "/metrics"});
  EXPECT_NE(plain.code, 0);
  ASSERT_EQ(d.stop(), 0);
}

TEST(Otlp, FileOutputMatchesTheOpenTelemetrySchema) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  Daemon d(dir, {"--probes", "exec,exit,open,runqlat"});
  ASSERT_TRUE(d.wait_ready({"exec", "exit", "open", "runqlat"})) << d.log();
  spawn_n("/bin/sh", {"-c", "exit 3"}, 20);
  spawn_n("/bin/sh", {"-c", "kill -9 $$"}, 5);
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(d.stop(), 0);
  auto r = validate_otlp({d.otlp()});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find(" logs)"), std::string::npos) << r.out;
}

// The last value of a counter series in a set of OTLP metrics bodies.
double otlp_counter(const std::vector<OtlpReceiver::Request>& reqs, const std::string& name,
                    const std::string& label_value) {
  double v = -1;
  for (const auto& r : reqs) {
    if (r.path != "/v1/metrics") continue;
    const json doc = json::parse(r.body);  // named: the loop below refers into it
    for (const auto& m : doc["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]) {
      if (m["name"] != name) continue;
      for (const auto& p : m["sum"]["dataPoints"])
        if (!p["attributes"].empty() && p["attributes"][0]["value"]["stringValue"] == label_value)
          v = p["asDouble"];
    }
  }
  return v;
}

int otlp_exec_records(const std::vector<OtlpReceiver::Request>& reqs, const std::string& comm) {
  int n = 0;
  for (const auto& r : reqs) {
    if (r.path != "/v1/logs") continue;
    const json doc = json::parse(r.body);  // named: the loop below refers into it
    for (const auto& rec : doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) {
      if (rec["body"]["stringValue"] != "exec") continue;
      for (const auto& a : rec["attributes"])
        if (a["key"] == "process.command" && a["value"]["stringValue"] == comm) ++n;
    }
  }
  return n;
}

TEST(OtlpPush, DeliversMetricsAndLogsWithHeadersGzipAndEnvironment) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "kso");
  int port = free_port_outside_ephemeral_range();
  OtlpReceiver receiver(port);
  // The standard variables: endpoint and headers; and a resource attribute.
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ("http://127.0.0.1:" + std::to_string(port)).c_str(), 1);
  ::setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=team%20a", 1);
  ::setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,k8s.node.name=n1", 1);
  Daemon d(dir,
           {"--otlp-interval", "500ms", "--otlp-gzip", "--otlp-header", "Authorization=Bearer t0k"},
           false);
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  ::unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
  ::unsetenv("OTEL_RESOURCE_ATTRIBUTES");
  ASSERT_TRUE(d.wait_ready()) << d.log();
  spawn_n(bin, {}, 50);
  ASSERT_TRUE(
      eventually([&] { return otlp_exec_records(receiver.requests(), comm_of(bin)) >= 50; }, 15s))
      << receiver.requests().size() << " requests, "
      << otlp_exec_records(receiver.requests(), comm_of(bin)) << " exec records; " << d.log();
  ASSERT_EQ(d.stop(), 0) << d.log();

  auto reqs = receiver.requests();
  EXPECT_EQ(otlp_exec_records(reqs, comm_of(bin)), 50);
  EXPECT_EQ(otlp_counter(reqs, "ksight_process_execs_total", comm_of(bin)), 50);
  std::set<std::string> paths;
  for (const auto& r : reqs) {
    paths.insert(r.path);
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("content-encoding"), "gzip");
    EXPECT_EQ(r.headers.at("authorization"), "Bearer t0k");
    EXPECT_EQ(r.headers.at("x-tenant"), "team a");
  }
  EXPECT_EQ(paths, (std::set<std::string>{"/v1/metrics", "/v1/logs"}));
  const json first = json::parse(reqs.front().body);
  auto res = first.begin().value()[0]["resource"]["attributes"];
  std::map<std::string, std::string> attrs;
  for (const auto& a : res) attrs[a["key"]] = a["value"]["stringValue"];
  EXPECT_EQ(attrs["deployment.environment"], "test");
  EXPECT_EQ(attrs["service.name"], "ksight");
  receiver.dump("/v1/metrics", dir.file("metrics.jsonl"));
  receiver.dump("/v1/logs", dir.file("logs.jsonl"));
  auto v = validate_otlp({dir.file("metrics.jsonl"), dir.file("logs.jsonl")});
  EXPECT_EQ(v.code, 0) << v.out << v.err;
}

// No OTLP log record was dropped, for any reason.
void expect_no_log_records_dropped(const std::string& exposition) {
  for (const char* reason : {"queue_full", "rejected", "shutdown"})
    EXPECT_EQ(metric(exposition,
                     std::string("ksight_otlp_export_dropped_total{signal=\"logs\",reason=\"") +
                         reason + "\"}"),
              0)
        << reason;
}

TEST(OtlpPush, NothingLostWhileTheCollectorIsDownForAFewSeconds) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "ksd");
  int port = free_port_outside_ephemeral_range();
  auto receiver = std::make_unique<OtlpReceiver>(port, OtlpReceiver::Mode::unavailable);
  std::string cfg = write_file(dir, "ksight.yaml", "otlp:\n  max_backoff: 2s\n");
  Daemon d(dir,
           {"--config", cfg, "--otlp-endpoint", "http://127.0.0.1:" + std::to_string(port),
            "--otlp-interval", "500ms"},
           false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  spawn_n(bin, {}, 30);
  std::this_thread::sleep_for(2s);  // 503s, then connections dropped at once
  receiver->set_mode(OtlpReceiver::Mode::down);
  std::this_thread::sleep_for(2s);
  receiver->set_mode(OtlpReceiver::Mode::ok);
  ASSERT_TRUE(
      eventually([&] { return otlp_exec_records(receiver->requests(), comm_of(bin)) >= 30; }, 40s))
      << otlp_exec_records(receiver->requests(), comm_of(bin)) << " records, "
      << receiver->requests().size() << " requests; " << [&] {
           std::string out, t = d.scrape();
           std::istringstream in(t);
           for (std::string l; std::getline(in, l);)
             if (l.rfind("ksight_otlp", 0) == 0) out += l + "\n";
           return out;
         }();
  std::string text = d.scrape();
  // Documents go out in order, so the retries land on whichever was first.
  EXPECT_GT(metric(text, "ksight_otlp_export_requests_total{signal=\"metrics\",result=\"retry\"}")
                    .value_or(0) +
                metric(text, "ksight_otlp_export_requests_total{signal=\"logs\",result=\"retry\"}")
                    .value_or(0),
            0);
  expect_no_log_records_dropped(text);
  ASSERT_EQ(d.stop(), 0);
  EXPECT_EQ(otlp_exec_records(receiver->requests(), comm_of(bin)), 30);
}

// Extends the test above: the work happens while the collector is down (not
// before), the outage spans many export intervals, and every record arrives
// exactly once once it is back, the queue never past its bound.
TEST(OtlpPush, WorkDuringALongOutageArrivesOnceWithinTheQueueBound) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  std::string bin = unique_copy("/bin/true", dir, "kso");
  int port = free_port_outside_ephemeral_range();
  auto receiver = std::make_unique<OtlpReceiver>(port, OtlpReceiver::Mode::down);
  std::string cfg =
      write_file(dir, "ksight.yaml", "otlp:\n  max_backoff: 1s\n  queue_size: 4MiB\n");
  Daemon d(dir,
           {"--config", cfg, "--otlp-endpoint", "http://127.0.0.1:" + std::to_string(port),
            "--otlp-interval", "300ms"},
           false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  double max_queue = 0;
  for (int round = 0; round < 6; ++round) {  // ~6 s down, 20 intervals
    spawn_n(bin, {}, 10);
    std::this_thread::sleep_for(1s);
    max_queue =
        std::max(max_queue, metric(d.scrape(), "ksight_otlp_export_queue_bytes").value_or(0));
  }
  EXPECT_EQ(otlp_exec_records(receiver->requests(), comm_of(bin)), 0);
  EXPECT_GT(max_queue, 0);
  EXPECT_LE(max_queue, 4 * 1024 * 1024);
  receiver->set_mode(OtlpReceiver::Mode::ok);
  EXPECT_TRUE(
      eventually([&] { return otlp_exec_records(receiver->requests(), comm_of(bin)) >= 60; }, 40s))
      << otlp_exec_records(receiver->requests(), comm_of(bin));
  std::string text = d.scrape();
  expect_no_log_records_dropped(text);
  ASSERT_EQ(d.stop(), 0);
  EXPECT_EQ(otlp_exec_records(receiver->requests(), comm_of(bin)), 60);  // none twice
}

TEST(OtlpPush, OverflowIsDroppedAndCounted) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  int port = free_port_outside_ephemeral_range();
  OtlpReceiver receiver(port, OtlpReceiver::Mode::unavailable);
  std::string cfg = write_file(dir, "ksight.yaml",
                               "otlp:\n  endpoint: http://127.0.0.1:" + std::to_string(port) +
                                   "\n  interval: 200ms\n  queue_size: 16KiB\n");
  Daemon d(dir, {"--config", cfg}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  std::string text;
  EXPECT_TRUE(eventually(
      [&] {
        text = d.scrape();
        return metric(text,
                      "ksight_otlp_export_dropped_total{signal=\"metrics\",reason=\"queue_full\"}")
                   .value_or(0) > 0;
      },
      15s))
      << text;
  EXPECT_LE(metric(text, "ksight_otlp_export_queue_bytes").value_or(1e9), 16 * 1024);
  ASSERT_EQ(d.stop(), 0);
}

TEST(OtlpPush, SigtermDoesNotHangOnASilentCollector) {
  KSIGHT_REQUIRE_BPF();
  TempDir dir;
  int port = free_port_outside_ephemeral_range();
  OtlpReceiver receiver(port, OtlpReceiver::Mode::silent);  // accepts, never answers
  std::string cfg = write_file(dir, "ksight.yaml",
                               "otlp:\n  endpoint: http://127.0.0.1:" + std::to_string(port) +
                                   "\n  interval: 200ms\n  timeout: 60s\n  shutdown_timeout: 2s\n");
  Daemon d(dir, {"--config", cfg}, false);
  ASSERT_TRUE(d.wait_ready()) << d.log();
  std::this_thread::sleep_for(1s);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(d.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_NE(d.log().find("not delivered before the shutdown timeout"), std::string::npos)
      << d.log();
}

TEST(OtlpPush, BadEndpointIsAUsageError) {
  auto r = run({ksight_binary(), "run", "--otlp-endpoint", "collector:4318"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("expected an http:// or https:// URL"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ksight::test
