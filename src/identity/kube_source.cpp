#include "identity/kube_source.h"

#include <cstdlib>

namespace ksight::identity {

std::expected<std::unique_ptr<KubeSource>, std::string> KubeSource::start(
    const KubeSourceOptions& opts) {
  if (opts.mode == "off") return nullptr;
  std::expected<KubeConfig, std::string> cfg;
  if (!opts.kubeconfig.empty()) {
    cfg = load_kubeconfig(opts.kubeconfig);
    if (!cfg) return std::unexpected("identity.kubeconfig: " + cfg.error());
  } else {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    if (!host || !*host) {
      if (opts.mode == "on") {
        return std::unexpected(
            std::string("identity.kubernetes is on, but this is not a Kubernetes pod "
                        "(KUBERNETES_SERVICE_HOST is not set) and no kubeconfig was given"));
      }
      return nullptr;
    }
    cfg = in_cluster_config(opts.service_account_dir);
    if (!cfg) return std::unexpected("identity.kubernetes: in-cluster: " + cfg.error());
  }
  const char* env_node = std::getenv("NODE_NAME");
  std::string node = node_name(!opts.node_name.empty() ? opts.node_name
                               : env_node              ? std::string(env_node)
                                                       : std::string());
  PodStoreOptions store{.deleted_ttl = std::chrono::nanoseconds(opts.deleted_pod_ttl_ns)};
  std::unique_ptr<KubeSource> src(new KubeSource(std::move(*cfg), std::move(node), store));
  auto w = KubeWatcher::start(src->config_, src->node_, src->store_);
  if (!w) return std::unexpected("identity.kubernetes: " + w.error());
  src->watcher_ = std::move(*w);
  return src;
}

size_t KubeSource::publish(core::Registry& reg) {
  using core::MetricKind;
  auto synced = reg.add({.name = "ksight_kube_synced",
                         .help = "1 once the first LIST of this node's pods is in.",
                         .kind = MetricKind::gauge,
                         .expires = false});
  auto pods = reg.add({.name = "ksight_kube_pods",
                       .help = "This node's pods known to the agent: live, and deleted but still "
                               "resolvable (identity.deleted_pod_ttl).",
                       .kind = MetricKind::gauge,
                       .label_names = {"state"},
                       .expires = false});
  auto starts = reg.add({.name = "ksight_kube_watch_starts_total",
                         .help = "Watch requests, by why: initial (after a LIST), server_timeout, "
                                 "stalled, disconnected, http_error, bad_event, error_event.",
                         .kind = MetricKind::counter,
                         .label_names = {"reason"},
                         .expires = false});
  auto events = reg.add({.name = "ksight_kube_events_total",
                         .help = "Watch events received, by type.",
                         .kind = MetricKind::counter,
                         .label_names = {"type"},
                         .expires = false});
  auto errors = reg.add({.name = "ksight_kube_api_errors_total",
                         .help = "Error answers of the API server, by HTTP status code.",
                         .kind = MetricKind::counter,
                         .label_names = {"code"},
                         .expires = false});
  auto relists = reg.add({.name = "ksight_kube_relists_total",
                          .help = "LISTs after the first (the watch's resourceVersion was gone).",
                          .kind = MetricKind::counter,
                          .expires = false});
  auto dropped = reg.add({.name = "ksight_kube_pods_dropped_total",
                          .help = "Pods or events not stored, by reason: store_full, oversize, "
                                  "unusable.",
                          .kind = MetricKind::counter,
                          .label_names = {"reason"},
                          .expires = false});
  return reg.add_refresher([=, this](core::Registry::Writer& w) {
    const KubeWatcherStats s = watcher_->stats();
    const PodStoreStats p = store_.stats();
    w.set(synced, {}, s.synced ? 1 : 0);
    w.set(pods, {"live"}, static_cast<double>(p.live));
    w.set(pods, {"deleted"}, static_cast<double>(p.deleted));
    for (size_t r = 0; r < s.watch_starts.size(); ++r) {
      w.set(starts, {to_string(static_cast<WatchStart>(r))},
            static_cast<double>(s.watch_starts[r]));
    }
    for (size_t t = 0; t < s.events.size(); ++t) {
      w.set(events, {to_string(static_cast<WatchEventType>(t))}, static_cast<double>(s.events[t]));
    }
    for (const auto& [code, n] : s.api_errors) {
      w.set(errors, {std::to_string(code)}, static_cast<double>(n));
    }
    w.set(relists, {}, static_cast<double>(s.relists));
    w.set(dropped, {"store_full"}, static_cast<double>(p.refused + s.list_pods_dropped));
    w.set(dropped, {"oversize"}, static_cast<double>(s.events_oversize));
    w.set(dropped, {"unusable"}, static_cast<double>(s.events_unusable));
  });
}

}  // namespace ksight::identity
