#pragma once
// The Kubernetes side of workload identity for `ksight run` and `ksight
// trace`: whether to watch (identity.kubernetes: auto, on, off), where the
// API server is (a kubeconfig, or the in-cluster service account), the pod
// store the resolver joins, the watcher that keeps it current, and the
// ksight_kube_* metrics.
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "core/registry.h"
#include "identity/kube_config.h"
#include "identity/kube_watcher.h"
#include "identity/pod_store.h"

namespace ksight::identity {

struct KubeSourceOptions {
  std::string mode = "auto";  // auto: in a cluster or with a kubeconfig; on; off
  std::string kubeconfig;     // empty: in-cluster
  std::string node_name;      // empty: $NODE_NAME, else the hostname
  uint64_t deleted_pod_ttl_ns = 300'000'000'000ull;
  std::string service_account_dir = std::string(kServiceAccountDir);
};

class KubeSource {
 public:
  // Null without an error when there is nothing to watch (off, or auto
  // outside a cluster). An error for what the operator must fix: a broken
  // kubeconfig, `on` without an API server. An API server that is down is
  // not an error: the watcher retries, and identities fall back meanwhile.
  static std::expected<std::unique_ptr<KubeSource>, std::string> start(
      const KubeSourceOptions& opts);

  const PodStore& pods() const { return store_; }
  const std::string& node() const { return node_; }
  const std::string& source() const { return config_.source; }
  bool wait_synced(std::chrono::milliseconds timeout) const {
    return watcher_->wait_synced(timeout);
  }
  // ksight_kube_synced, ksight_kube_pods{state}, ksight_kube_watch_starts_total{reason},
  // ksight_kube_events_total{type}, ksight_kube_api_errors_total{code}, ...
  // Returns the refresher's token.
  size_t publish(core::Registry& reg);

 private:
  KubeSource(KubeConfig config, std::string node, PodStoreOptions store)
      : config_(std::move(config)), node_(std::move(node)), store_(store) {}
  KubeConfig config_;
  std::string node_;
  PodStore store_;
  std::unique_ptr<KubeWatcher> watcher_;  // declared last: stopped first
};

}  // namespace ksight::identity
