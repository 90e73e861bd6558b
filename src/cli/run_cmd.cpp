// ksight run: the node daemon.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "config/units.h"
#include "core/clock.h"
#include "export/jsonlines.h"
#include "export/otlp.h"
#include "export/prometheus.h"
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

// Flags override the file (or the embedded default), key by key.
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
  if (!f.events_file.empty()) c.events.file = f.events_file;
  if (!f.probes.empty()) c.probes = split_list(f.probes);
  if (!f.log_level.empty()) c.log_level = f.log_level;
  if (f.force_perf_buffer) c.channel.force_perf_buffer = true;
  for (const auto& d : f.disable_features)
    for (const auto& x : split_list(d)) c.disable_features.push_back(x);
  if (auto v = config::validate(c, "command line"); !v) return std::unexpected(v.error());
  return c;
}

class OtlpExporter {
 public:
  OtlpExporter(std::FILE* out, core::Registry& reg, exporters::OtlpLogBuffer* logs)
      : out_(out), reg_(reg), logs_(logs), resource_(exporters::OtlpResource::for_this_host()) {}
  ~OtlpExporter() {
    if (out_ && out_ != stdout) std::fclose(out_);
  }
  void write() {
    // One clock reading for both: series start times and the export time are
    // converted the same way, so start <= time holds.
    const uint64_t now = core::mono_ns();
    auto doc = exporters::otlp_metrics_json(reg_.collect(now), resource_, core::mono_to_unix_ns(now));
    std::fprintf(out_, "%s\n", doc.c_str());
    if (logs_) {
      auto log_doc = logs_->take_json(resource_);
      if (!log_doc.empty()) std::fprintf(out_, "%s\n", log_doc.c_str());
    }
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  core::Registry& reg_;
  exporters::OtlpLogBuffer* logs_;
  exporters::OtlpResource resource_;
};

}  // namespace

int run_daemon(const RunFlags& flags) {
  auto cfg = resolve_config(flags);
  if (!cfg) return fail(kExitUsage, cfg.error());
  const config::Config& c = *cfg;
  setup_logging(c.log_level);
  block_stop_signals();

  core::Registry registry(core::Registry::Options{.default_max_series = c.metrics.max_series_per_metric,
                                                  .series_ttl_ns = c.metrics.series_ttl_ns});

  std::vector<core::EventSink*> sinks;
  std::FILE* events_out = nullptr;
  std::unique_ptr<exporters::JsonLinesSink> json_sink;
  if (!c.events.file.empty()) {
    events_out = c.events.file == "-" ? stdout : std::fopen(c.events.file.c_str(), "a");
    if (!events_out) return fail(kExitFailure, "cannot open events file " + c.events.file);
    json_sink = std::make_unique<exporters::JsonLinesSink>(events_out);
    sinks.push_back(json_sink.get());
  }
  std::unique_ptr<exporters::OtlpLogBuffer> otlp_logs;
  std::unique_ptr<OtlpExporter> otlp;
  if (!c.otlp.file.empty()) {
    std::FILE* out = exporters::OtlpFileWriter::open(c.otlp.file);
    if (!out) return fail(kExitFailure, "cannot open OTLP file " + c.otlp.file);
    otlp_logs = std::make_unique<exporters::OtlpLogBuffer>(16u << 20);
    sinks.push_back(otlp_logs.get());
    otlp = std::make_unique<OtlpExporter>(out, registry, otlp_logs.get());
    auto dropped = registry.add({.name = "ksight_export_dropped_events_total",
                                 .help = "Events an exporter dropped because its buffer was full.",
                                 .kind = core::MetricKind::counter,
                                 .label_names = {"exporter"},
                                 .expires = false});
    auto* logs = otlp_logs.get();
    registry.add_refresher([dropped, logs](core::Registry::Writer& w) {
      w.set(dropped, {"otlp_logs"}, static_cast<double>(logs->dropped()));
    });
  }

  std::unique_ptr<exporters::MetricsServer> server;
  try {
    server = std::make_unique<exporters::MetricsServer>(c.listen, registry);
  } catch (const std::exception& e) {
    return fail(kExitFailure, e.what());
  }

  auto agent = runtime::Agent::start(agent_options(c), registry, sinks);
  if (!agent) return fail(kExitFailure, agent.error() + privilege_hint(agent.error()));
  spdlog::info("ksight {} running: /metrics on {} (port {}), event channel {}", KSIGHT_VERSION,
               c.listen, server->port(), bpf::to_string((*agent)->channel_kind()));

  const uint64_t interval = c.otlp.interval_ns;
  uint64_t next_export = core::mono_ns() + interval;
  int sig = 0;
  while ((sig = wait_for_signal(std::chrono::milliseconds(100))) == 0) {
    if (otlp && core::mono_ns() >= next_export) {
      otlp->write();
      next_export += interval;
    }
  }
  spdlog::info("received {}, detaching", sig == SIGINT ? "SIGINT" : "SIGTERM");
  (*agent)->stop();
  if (otlp) otlp->write();  // the final state, with every event read before stop
  if (events_out) std::fflush(events_out);
  agent->reset();  // detach and unload before the exporters go
  if (events_out && events_out != stdout) std::fclose(events_out);
  return kExitOk;
}

}  // namespace ksight::cli
