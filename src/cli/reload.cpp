#include "cli/reload.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "config/reload.h"

namespace ksight::cli {

namespace {
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string joined(const std::vector<std::string>& v, const char* prefix, const char* sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + std::string(prefix) + s;
  return out;
}
}  // namespace

ConfigReloader::ConfigReloader(const RunFlags& flags, config::Config running,
                               core::Registry& registry, runtime::Agent& agent)
    : flags_(flags), running_(std::move(running)), registry_(registry), agent_(agent) {
  // Like Prometheus' own: the start counts as the first successful load.
  last_success_unix_ = unix_now();
  auto reloads = registry_.add({.name = "ksight_config_reloads_total",
                                .help = "Configuration reloads (SIGHUP with --config), by "
                                        "result: ok (valid, applied), error (invalid, ignored).",
                                .kind = core::MetricKind::counter,
                                .label_names = {"result"},
                                .expires = false});
  auto last = registry_.add({.name = "ksight_config_last_reload_success_timestamp_seconds",
                             .help = "When the configuration was last loaded successfully "
                                     "(start or reload), in seconds since the epoch.",
                             .kind = core::MetricKind::gauge,
                             .expires = false});
  auto good = registry_.add({.name = "ksight_config_last_reload_successful",
                             .help = "1 when the last configuration load (start or reload) "
                                     "was valid, 0 when the running one is older than the file.",
                             .kind = core::MetricKind::gauge,
                             .expires = false});
  refresher_ = registry_.add_refresher([=, this](core::Registry::Writer& w) {
    w.set(reloads, {"ok"}, static_cast<double>(ok_.load()));
    w.set(reloads, {"error"}, static_cast<double>(errors_.load()));
    w.set(last, {}, last_success_unix_.load());
    w.set(good, {}, last_ok_.load() ? 1 : 0);
  });
}

ConfigReloader::~ConfigReloader() {
  registry_.remove_refresher(refresher_);
}

bool ConfigReloader::reload() {
  auto next = resolve_config(flags_);
  if (!next) {
    ++errors_;
    last_ok_ = false;
    spdlog::error("config reload failed, keeping the running configuration: {}", next.error());
    return false;
  }
  for (const auto& note : next->notes) spdlog::warn("{}", note);
  auto plan = config::plan_reload(running_, *next);
  for (const auto& key : plan.restart) {
    spdlog::warn("config reload: {} changed: needs a restart, keeping the running value", key);
  }
  const config::Config& c = plan.applied;
  std::string probes;
  if (c.probes != running_.probes) {
    auto ch = agent_.set_probes(c.probes);
    probes = "; probes:";
    if (!ch.added.empty()) probes += " " + joined(ch.added, "+");
    if (!ch.removed.empty()) probes += " " + joined(ch.removed, "-");
    for (const auto& f : ch.failed) {
      // After the drop (privileges.keep_capabilities) loading is refused.
      const bool refused = f.find("Operation not permitted") != std::string::npos;
      spdlog::warn("config reload: probe {}{}", f,
                   refused ? " (capabilities were dropped after attach: run with "
                             "--keep-capabilities all to add probes by reload)"
                           : "");
    }
  }
  if (c.log_level != running_.log_level) spdlog::set_level(spdlog::level::from_str(c.log_level));
  if (c.metrics.max_series_per_metric != running_.metrics.max_series_per_metric ||
      c.metrics.series_ttl_ns != running_.metrics.series_ttl_ns) {
    registry_.set_limits(c.metrics.max_series_per_metric, c.metrics.series_ttl_ns);
  }
  if (c.cgroups.prune_interval_ns != running_.cgroups.prune_interval_ns)
    agent_.set_cgroup_prune_interval(c.cgroups.prune_interval_ns);
  // otlp.interval: the run loop reads running() after each reload.
  running_ = c;
  ++ok_;
  last_ok_ = true;
  last_success_unix_ = unix_now();
  spdlog::info("config reloaded from {}: {}{}", flags_.config_file,
               plan.live.empty() ? std::string("nothing to change live")
                                 : "applied " + joined(plan.live, "", ", "),
               probes);
  return true;
}

}  // namespace ksight::cli
