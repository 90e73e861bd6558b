#include "config/reload.h"

#include <functional>

namespace ksight::config {

namespace {

struct Key {
  const char* name;
  bool live;
  std::function<bool(const Config&, const Config&)> same;
  std::function<void(Config&, const Config&)> copy;  // to, from
};

#define KSIGHT_KEY(name, member, live)                                                 \
  Key {                                                                                \
    name, live, [](const Config& a, const Config& b) { return a.member == b.member; }, \
        [](Config& to, const Config& from) { to.member = from.member; }                \
  }

// Live: what the daemon can take without dropping a probe, a connection or a
// series. Everything else is built into something made once at start: the
// event channel and queue, the HTTP server, the OTLP exporter, the output
// files, the label names of every metric, and what is compiled into each
// loaded BPF object (rate limits, sample frequency, map sizes).
const std::vector<Key>& keys() {
  static const std::vector<Key> k = {
      KSIGHT_KEY("listen", listen, false),
      KSIGHT_KEY("probes", probes, true),
      KSIGHT_KEY("channel.size", channel.size_bytes, false),
      KSIGHT_KEY("channel.drain_interval", channel.drain_interval_ns, false),
      KSIGHT_KEY("channel.wakeup_fill", channel.wakeup_fill, false),
      KSIGHT_KEY("channel.force_perf_buffer", channel.force_perf_buffer, false),
      KSIGHT_KEY("queue.batches", queue.batches, false),
      KSIGHT_KEY("queue.batch_size", queue.batch_bytes, false),
      KSIGHT_KEY("metrics.max_series_per_metric", metrics.max_series_per_metric, true),
      KSIGHT_KEY("metrics.series_ttl", metrics.series_ttl_ns, true),
      KSIGHT_KEY("web.tls_cert_file", web.tls_cert_file, false),
      KSIGHT_KEY("web.tls_key_file", web.tls_key_file, false),
      KSIGHT_KEY("web.basic_auth_users", web.basic_auth_users, false),
      KSIGHT_KEY("web.max_connections", web.max_connections, false),
      KSIGHT_KEY("web.max_connections_per_client", web.max_connections_per_client, false),
      KSIGHT_KEY("web.max_request_size", web.max_request_size, false),
      KSIGHT_KEY("web.client_timeout", web.client_timeout_ns, false),
      KSIGHT_KEY("web.threads", web.threads, false),
      KSIGHT_KEY("web.min_scrape_interval", web.min_scrape_interval_ns, false),
      KSIGHT_KEY("otlp.file", otlp.file, false),
      KSIGHT_KEY("otlp.interval", otlp.interval_ns, true),
      KSIGHT_KEY("otlp.endpoint", otlp.endpoint, false),
      KSIGHT_KEY("otlp.headers", otlp.headers, false),
      KSIGHT_KEY("otlp.gzip", otlp.gzip, false),
      KSIGHT_KEY("otlp.timeout", otlp.timeout_ns, false),
      KSIGHT_KEY("otlp.queue_size", otlp.queue_bytes, false),
      KSIGHT_KEY("otlp.shutdown_timeout", otlp.shutdown_timeout_ns, false),
      KSIGHT_KEY("otlp.max_backoff", otlp.max_backoff_ns, false),
      KSIGHT_KEY("otlp.histograms", otlp.histograms, false),
      KSIGHT_KEY("events.file", events.file, false),
      KSIGHT_KEY("events.rate_limit", events.rate_limit, false),
      KSIGHT_KEY("events.rate_burst", events.rate_burst, false),
      KSIGHT_KEY("profile.frequency", profile.frequency_hz, false),
      KSIGHT_KEY("profile.pprof", profile.pprof, false),
      KSIGHT_KEY("cgroups.map_entries", cgroups.map_entries, false),
      KSIGHT_KEY("cgroups.prune_interval", cgroups.prune_interval_ns, true),
      KSIGHT_KEY("identity.labels", identity.labels, false),
      KSIGHT_KEY("identity.kubernetes", identity.kubernetes, false),
      KSIGHT_KEY("identity.kubeconfig", identity.kubeconfig, false),
      KSIGHT_KEY("identity.node_name", identity.node_name, false),
      KSIGHT_KEY("identity.deleted_pod_ttl", identity.deleted_pod_ttl_ns, false),
      KSIGHT_KEY("sampling", sampling, false),
      KSIGHT_KEY("budget", budget, false),
      KSIGHT_KEY("bpf_stats", bpf_stats, false),
      KSIGHT_KEY("disable_features", disable_features, false),
      KSIGHT_KEY("log_level", log_level, true),
      KSIGHT_KEY("privileges.keep_capabilities", privileges.keep_capabilities, false),
      KSIGHT_KEY("privileges.user", privileges.user, false),
  };
  return k;
}

#undef KSIGHT_KEY

}  // namespace

ReloadPlan plan_reload(const Config& running, const Config& next) {
  ReloadPlan p{.applied = next, .live = {}, .restart = {}};
  for (const auto& k : keys()) {
    if (k.same(running, next)) continue;
    if (k.live) {
      p.live.push_back(k.name);
    } else {
      p.restart.push_back(k.name);
      k.copy(p.applied, running);
    }
  }
  return p;
}

std::vector<KeyReload> reload_keys() {
  std::vector<KeyReload> out;
  for (const auto& k : keys()) out.push_back({k.name, k.live});
  return out;
}

}  // namespace ksight::config
