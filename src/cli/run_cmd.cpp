// ksight run: the node daemon.
#include <spdlog/spdlog.h>

#include <linux/capability.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/pprof_service.h"
#include "cli/reload.h"
#include "config/units.h"
#include "core/clock.h"
#include "export/http_server.h"
#include "export/jsonlines.h"
#include "export/otlp.h"
#include "export/otlp_http.h"
#include "export/output_file.h"
#include "identity/kube_source.h"
#include "identity/resolver.h"
#include "runtime/privileges.h"
#include "runtime/service_notify.h"
#include "version.h"

namespace ksight::cli {

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// service.*, host.name, k8s.node.name when watching pods, then
// OTEL_RESOURCE_ATTRIBUTES over them.
exporters::OtlpResource resource(const std::string& node) {
  auto r = exporters::OtlpResource::for_this_host();
  if (!node.empty()) r.attributes.emplace_back("k8s.node.name", node);
  if (const char* attrs = env("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& [k, v] : exporters::parse_otel_pairs(attrs)) {
      auto it = std::find_if(r.attributes.begin(), r.attributes.end(),
                             [&](const auto& kv) { return kv.first == k; });
      if (it != r.attributes.end())
        it->second = v;
      else
        r.attributes.emplace_back(k, v);
    }
  }
  return r;
}

// Every interval: one metrics document and one logs document, to the file
// and/or the collector.
class OtlpOutput {
 public:
  OtlpOutput(const config::Config& c, core::Registry& reg, const std::string& node)
      : reg_(reg),
        resource_(resource(node)),
        histograms_(c.otlp.histograms == "explicit" ? exporters::OtlpHistograms::explicit_bounds
                                                    : exporters::OtlpHistograms::exponential) {
    if (!c.otlp.file.empty()) {
      auto f = exporters::OutputFile::open(c.otlp.file);
      if (!f) throw std::runtime_error("OTLP file: " + f.error());
      file_ = std::move(*f);
    }
    if (!c.otlp.endpoint.empty()) {
      http_ = std::make_unique<exporters::OtlpHttpExporter>(exporters::OtlpHttpOptions{
          .endpoint = c.otlp.endpoint,
          .headers = c.otlp.headers,
          .gzip = c.otlp.gzip,
          .timeout = std::chrono::milliseconds(c.otlp.timeout_ns / 1'000'000),
          .max_queue_bytes = c.otlp.queue_bytes,
          .max_backoff = std::chrono::milliseconds(c.otlp.max_backoff_ns / 1'000'000)});
      // The loss ledger: the collector decides the fate of the log records.
      http_->on_settled([this](const core::ProbeCounts& events, core::SinkOutcome outcome) {
        logs_.settle(events, outcome);
      });
      register_http_metrics();
    }
    shutdown_budget_ = std::chrono::milliseconds(c.otlp.shutdown_timeout_ns / 1'000'000);
  }
  ~OtlpOutput() {
    if (refresher_) reg_.remove_refresher(*refresher_);
  }
  bool enabled() const { return file_ || http_; }
  exporters::OtlpLogBuffer& logs() { return logs_; }
  exporters::OutputFile* file() { return file_.get(); }

  void export_now() {
    // One clock reading for both: series start times and the export time are
    // converted the same way, so start <= time holds.
    const uint64_t now = core::mono_ns();
    std::string metrics = exporters::otlp_metrics_json(reg_.collect(now), resource_,
                                                       core::mono_to_unix_ns(now), histograms_);
    core::ProbeCounts events;  // the log records' probes, for the loss ledger
    std::string logs = logs_.take_json(resource_, &events);
    if (file_) {
      // A failed write (disk full) loses this document, is counted in
      // ksight_export_write_errors_total, and the next export tries again.
      file_->write(metrics + "\n");
      if (!logs.empty()) {
        const bool written = file_->write(logs + "\n");
        // With a collector as well, the collector's answer is the ledger's.
        if (!http_)
          logs_.settle(events, written ? core::SinkOutcome::delivered : core::SinkOutcome::failed);
      }
    }
    if (http_) {
      http_->enqueue(exporters::OtlpSignal::metrics, std::move(metrics));
      if (!logs.empty())
        http_->enqueue(exporters::OtlpSignal::logs, std::move(logs), std::move(events));
    }
  }

  // The last export, then a bounded wait for the collector.
  void finish() {
    export_now();
    if (http_) {
      http_->shutdown(shutdown_budget_);
      auto s = http_->stats();
      uint64_t left = s.shutdown[0] + s.shutdown[1];
      if (left) spdlog::warn("OTLP: {} documents not delivered before the shutdown timeout", left);
    }
  }

 private:
  void register_http_metrics() {
    auto requests =
        reg_.add({.name = "ksight_otlp_export_requests_total",
                  .help = "OTLP/HTTP requests by signal and result: sent (accepted), "
                          "retry (failed, will be retried), rejected (refused, dropped).",
                  .kind = core::MetricKind::counter,
                  .label_names = {"signal", "result"},
                  .expires = false});
    auto dropped = reg_.add({.name = "ksight_otlp_export_dropped_total",
                             .help = "OTLP documents dropped, by signal and reason: queue_full, "
                                     "rejected, shutdown.",
                             .kind = core::MetricKind::counter,
                             .label_names = {"signal", "reason"},
                             .expires = false});
    auto queued = reg_.add({.name = "ksight_otlp_export_queue_bytes",
                            .help = "Bytes of OTLP documents waiting to be sent.",
                            .kind = core::MetricKind::gauge,
                            .expires = false});
    auto* http = http_.get();
    refresher_ = reg_.add_refresher([=](core::Registry::Writer& w) {
      auto s = http->stats();
      for (size_t i = 0; i < 2; ++i) {
        std::string_view sig = exporters::to_string(static_cast<exporters::OtlpSignal>(i));
        w.set(requests, {sig, "sent"}, static_cast<double>(s.sent[i]));
        w.set(requests, {sig, "retry"}, static_cast<double>(s.retries[i]));
        w.set(requests, {sig, "rejected"}, static_cast<double>(s.rejected[i]));
        w.set(dropped, {sig, "queue_full"}, static_cast<double>(s.queue_full[i]));
        w.set(dropped, {sig, "rejected"}, static_cast<double>(s.rejected[i]));
        w.set(dropped, {sig, "shutdown"}, static_cast<double>(s.shutdown[i]));
      }
      w.set(queued, {}, static_cast<double>(s.queue_bytes));
    });
  }

  core::Registry& reg_;
  exporters::OtlpResource resource_;
  exporters::OtlpHistograms histograms_;
  exporters::OtlpLogBuffer logs_{16u << 20};
  std::unique_ptr<exporters::OutputFile> file_;
  std::unique_ptr<exporters::OtlpHttpExporter> http_;
  std::optional<size_t> refresher_;
  std::chrono::milliseconds shutdown_budget_{5000};
};

// What /readyz reports: ready once every configured probe is attached, and
// while the agent's reader and dispatcher threads are alive.
class ReadyState {
 public:
  void set(std::vector<runtime::ProbeStatus> status, const runtime::Agent* agent) {
    std::lock_guard lock(mu_);
    status_ = std::move(status);
    agent_ = agent;
    started_ = true;
  }
  void clear_agent() {
    std::lock_guard lock(mu_);
    agent_ = nullptr;
  }
  exporters::Readiness get() const {
    std::lock_guard lock(mu_);
    if (!started_) return {false, "probes are loading\n"};
    exporters::Readiness r{true, {}};
    if (agent_) {
      if (auto h = agent_->health(core::mono_ns()); !h.ok) {
        r.ready = false;
        r.detail += h.detail;
        r.live = false;
        r.live_detail = h.detail;
      }
    }
    for (const auto& s : status_) {
      if (!s.up) {
        r.ready = false;
        r.detail += "probe " + s.name + " is off: " + s.reason + "\n";
      }
    }
    return r;
  }

 private:
  mutable std::mutex mu_;
  bool started_ = false;
  const runtime::Agent* agent_ = nullptr;
  std::vector<runtime::ProbeStatus> status_;
};

}  // namespace

// Flags override the file (or the embedded default), key by key; the
// standard OTEL_* variables fill in what neither sets.
std::expected<config::Config, std::string> resolve_config(const RunFlags& f) {
  auto loaded = f.config_file.empty() ? config::parse_config("", "<default>")
                                      : config::load_config_file(f.config_file);
  if (!loaded) return loaded;
  config::Config c = *loaded;
  if (!f.listen.empty()) c.listen = f.listen;
  if (!f.otlp_file.empty()) c.otlp.file = f.otlp_file;
  if (!f.otlp_interval.empty()) {
    auto d = config::parse_duration_ns(f.otlp_interval);
    if (!d) return std::unexpected("--otlp-interval: " + d.error());
    c.otlp.interval_ns = *d;
  }
  if (!f.min_scrape_interval.empty()) {
    auto d = config::parse_duration_ns(f.min_scrape_interval);
    if (!d) return std::unexpected("--min-scrape-interval: " + d.error());
    c.web.min_scrape_interval_ns = *d;
  }
  if (!f.otlp_endpoint.empty()) c.otlp.endpoint = f.otlp_endpoint;
  if (c.otlp.endpoint.empty() && env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    c.otlp.endpoint = env("OTEL_EXPORTER_OTLP_ENDPOINT");
  if (const char* h = env("OTEL_EXPORTER_OTLP_HEADERS")) {
    for (auto& [k, v] : exporters::parse_otel_pairs(h)) c.otlp.headers.try_emplace(k, v);
  }
  for (const auto& h : f.otlp_headers) {
    auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0)
      return std::unexpected("--otlp-header: expected NAME=VALUE, got '" + h + "'");
    c.otlp.headers[h.substr(0, eq)] = h.substr(eq + 1);
  }
  if (f.otlp_gzip) c.otlp.gzip = true;
  if (!f.otlp_histograms.empty()) {
    if (f.otlp_histograms != "exponential" && f.otlp_histograms != "explicit")
      return std::unexpected("--otlp-histograms: expected exponential or explicit, got '" +
                             f.otlp_histograms + "'");
    c.otlp.histograms = f.otlp_histograms;
  }
  if (!f.events_file.empty()) c.events.file = f.events_file;
  if (!f.identity_labels.empty()) c.identity.labels = split_list(f.identity_labels);
  if (!f.kubeconfig.empty()) c.identity.kubeconfig = f.kubeconfig;
  if (!f.node_name.empty()) c.identity.node_name = f.node_name;
  if (!f.probes.empty()) {
    c.probes = split_list(f.probes);
    if (auto note = config::dedupe_probes(c.probes); !note.empty()) c.notes.push_back("--" + note);
  }
  if (!f.log_level.empty()) c.log_level = f.log_level;
  if (f.force_perf_buffer) c.channel.force_perf_buffer = true;
  if (!f.keep_capabilities.empty()) c.privileges.keep_capabilities = {f.keep_capabilities};
  if (!f.user.empty()) c.privileges.user = f.user;
  for (const auto& d : f.disable_features)
    for (const auto& x : split_list(d)) c.disable_features.push_back(x);
  if (auto v = config::validate(c, "command line"); !v) return std::unexpected(v.error());
  return c;
}

int run_daemon(const RunFlags& flags) {
  auto cfg = resolve_config(flags);
  if (!cfg) return fail(kExitUsage, cfg.error());
  const config::Config& c = *cfg;
  if (!c.privileges.user.empty()) {
    if (auto u = runtime::check_user(c.privileges.user); !u)
      return fail(kExitUsage, "privileges.user: " + u.error());
  }
  setup_logging(c.log_level);
  for (const auto& note : c.notes) spdlog::warn("{}", note);
  block_stop_signals();

  // This node's pods, when in a cluster or given a kubeconfig: names for the
  // pod UIDs and container ids in cgroup paths.
  auto kube_source = identity::KubeSource::start(kube_options(c));
  if (!kube_source) return fail(kExitUsage, kube_source.error());
  const identity::KubeSource* kube = kube_source->get();
  if (kube) {
    spdlog::info("workload identity: watching the pods of node {} through {}", kube->node(),
                 kube->source());
  }
  // Per-cgroup metrics carry who runs there (identity.labels), not the id.
  identity::Resolver resolver(
      {.labels = identity_labels(c), .pods = kube ? &kube->pods() : nullptr});
  core::Registry registry(
      core::Registry::Options{.default_max_series = c.metrics.max_series_per_metric,
                              .series_ttl_ns = c.metrics.series_ttl_ns,
                              .expander = &resolver});
  resolver.publish(registry);
  if (kube) (*kube_source)->publish(registry);

  std::vector<core::EventSink*> sinks;
  std::unique_ptr<exporters::OutputFile> events_out;
  std::unique_ptr<exporters::JsonLinesSink> json_sink;
  if (!c.events.file.empty()) {
    auto f = exporters::OutputFile::open(c.events.file);
    if (!f) return fail(kExitFailure, "events file: " + f.error());
    events_out = std::move(*f);
    json_sink = std::make_unique<exporters::JsonLinesSink>(*events_out);
    sinks.push_back(json_sink.get());
  }
  std::unique_ptr<OtlpOutput> otlp;
  try {
    otlp = std::make_unique<OtlpOutput>(c, registry, kube ? kube->node() : std::string());
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
  if (otlp->enabled()) sinks.push_back(&otlp->logs());
  if (json_sink || otlp->enabled()) {
    auto dropped = registry.add({.name = "ksight_export_dropped_events_total",
                                 .help = "Events an exporter dropped: otlp_logs (its buffer was "
                                         "full), events_file (the write failed, e.g. disk full).",
                                 .kind = core::MetricKind::counter,
                                 .label_names = {"exporter"},
                                 .expires = false});
    auto write_errors = registry.add({.name = "ksight_export_write_errors_total",
                                      .help = "Failed writes to an output file (events_file, "
                                              "otlp_file), e.g. because the disk is full.",
                                      .kind = core::MetricKind::counter,
                                      .label_names = {"output"},
                                      .expires = false});
    auto* logs = otlp->enabled() ? &otlp->logs() : nullptr;
    auto* otlp_file = otlp->file();
    auto* events = events_out.get();
    auto* json = json_sink.get();
    registry.add_refresher([=](core::Registry::Writer& w) {
      if (logs) w.set(dropped, {"otlp_logs"}, static_cast<double>(logs->dropped()));
      if (json) {
        w.set(dropped, {"events_file"}, static_cast<double>(json->dropped()));
        w.set(write_errors, {"events_file"}, static_cast<double>(events->write_errors()));
      }
      if (otlp_file)
        w.set(write_errors, {"otlp_file"}, static_cast<double>(otlp_file->write_errors()));
    });
  }

  ReadyState ready;
  std::unique_ptr<exporters::HttpServer> server;
  try {
    server = std::make_unique<exporters::HttpServer>(
        exporters::HttpOptions{
            .listen = c.listen,
            .tls_cert_file = c.web.tls_cert_file,
            .tls_key_file = c.web.tls_key_file,
            .basic_auth_users = c.web.basic_auth_users,
            .max_connections = static_cast<unsigned>(c.web.max_connections),
            .max_connections_per_client = static_cast<unsigned>(c.web.max_connections_per_client),
            .max_request_size = c.web.max_request_size,
            .client_timeout_s =
                static_cast<unsigned>((c.web.client_timeout_ns + 999'999'999) / 1'000'000'000),
            .threads = static_cast<unsigned>(c.web.threads),
            .min_scrape_interval_ns = c.web.min_scrape_interval_ns},
        registry, [&ready] { return ready.get(); });
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }
  // /debug/pprof/profile, served once the agent runs.
  struct {
    std::mutex mu;
    std::shared_ptr<PprofService> service;
  } pprof;
  if (c.profile.pprof)
    server->set_profile_handler([&pprof](const exporters::ProfileQuery& q) {
      std::shared_ptr<PprofService> s;
      {
        std::lock_guard lk(pprof.mu);
        s = pprof.service;
      }
      if (s) return s->handle(q);
      return exporters::HttpResponse{
          .status = 503,
          .content_type = "text/plain; charset=utf-8",
          .body = std::make_shared<const std::string>("the agent is starting\n")};
    });

  runtime::AgentOptions agent_opts = agent_options(c);
  agent_opts.resolver = &resolver;
  // The profile probe's stack maps, filled only while a profile is taken.
  if (c.profile.pprof) agent_opts.stack_probes = {"profile"};
  auto agent = runtime::Agent::start(agent_opts, registry, sinks);
  if (!agent) return fail(kExitFailure, agent.error() + privilege_hint(agent.error()));
  if (c.profile.pprof) {
    std::lock_guard lk(pprof.mu);
    pprof.service = std::make_shared<PprofService>(**agent, resolver);  // before the drop
    pprof.service->pause_stacks();
  }
  // Everything that needs privilege is done: keep only what reading needs
  // (and, for /debug/pprof, reading other processes' mappings and binaries;
  // a profile probe added by a reload later does without).
  const bool serves_pprof =
      c.profile.pprof && std::find(c.probes.begin(), c.probes.end(), "profile") != c.probes.end();
  if (auto r = runtime::drop_after_attach(
          c.privileges.keep_capabilities, c.privileges.user, (*agent)->channel_map_fd(),
          serves_pprof ? runtime::cap_bit(CAP_SYS_PTRACE) : runtime::CapMask{0});
      !r) {
    return fail(kExitFailure, "dropping privileges after attach: " + r.error());
  }
  runtime::publish_capabilities(registry);
  ready.set((*agent)->status(), agent->get());
  spdlog::info("ksight {} running: /metrics on {}{} (port {}), event channel {}", KSIGHT_VERSION,
               server->tls() ? "https://" : "", c.listen, server->port(),
               bpf::to_string((*agent)->channel_kind()));
  // Type=notify: ready once attached and serving; watchdog pings while the
  // reader and dispatcher threads beat (/healthz says the same).
  runtime::ServiceNotifier notifier;
  notifier.ready(std::to_string((*agent)->status().size()) + " probes loaded; /metrics on port " +
                 std::to_string(server->port()));

  // SIGHUP re-reads --config (the embedded default cannot change: without
  // --config, SIGHUP only reopens the output files).
  ConfigReloader reloader(flags, c, registry, **agent);
  uint64_t interval = c.otlp.interval_ns;
  uint64_t next_export = core::mono_ns() + interval;
  int sig = 0;
  for (;;) {
    // Wake for a signal, the next OTLP export or watchdog ping, and at least
    // once a second rather than on a short timer: an idle
    // daemon should cost nothing.
    sig = wait_for_signal(idle_wait(
        core::mono_ns(), {otlp->enabled() ? next_export : UINT64_MAX, notifier.next_ping_ns()}));
    notifier.tick(core::mono_ns(), (*agent)->health(core::mono_ns()).ok);
    if (sig == SIGHUP) {
      // logrotate renamed the files: new writes go to new ones (no copytruncate needed).
      for (auto* f : {events_out.get(), otlp->file()}) {
        if (!f) continue;
        if (auto r = f->reopen(); !r)
          spdlog::error("SIGHUP: {}", r.error());
        else
          spdlog::info("SIGHUP: reopened {}", f->path());
      }
      std::unique_lock<std::mutex> no_profile;  // a reload may unload the profile probe
      if (pprof.service && !flags.config_file.empty()) no_profile = pprof.service->hold_off();
      if (!flags.config_file.empty() && reloader.reload()) {
        ready.set((*agent)->status(), agent->get());
        if (pprof.service) pprof.service->pause_stacks();  // a profile probe loaded anew
        if (reloader.running().otlp.interval_ns != interval) {
          interval = reloader.running().otlp.interval_ns;
          next_export = core::mono_ns() + interval;
        }
      }
      sig = 0;
    }
    if (sig) break;
    if (otlp->enabled() && core::mono_ns() >= next_export) {
      otlp->export_now();
      next_export += interval;
    }
  }
  spdlog::info("received {}, detaching", sig == SIGINT ? "SIGINT" : "SIGTERM");
  notifier.stopping();
  // A profile in progress ends now; the server waits for it, then stops
  // serving, before the agent it reads from goes.
  if (pprof.service) pprof.service->cancel();
  server.reset();
  (*agent)->stop();
  if (otlp->enabled()) otlp->finish();  // the final state, with every event read before stop
  ready.clear_agent();
  agent->reset();  // detach and unload before the exporters go
  return kExitOk;
}

}  // namespace ksight::cli
