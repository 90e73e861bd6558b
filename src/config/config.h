#pragma once
// ksight's configuration: YAML (deploy/ksight.yaml is the embedded default)
// turned into plain structs and validated. Errors name the file, the key and
// what was expected.
#include <cstdint>
#include <expected>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ksight::config {

struct Config {
  std::string listen;
  std::vector<std::string> probes;
  struct Channel {
    uint64_t size_bytes = 0;
    uint64_t drain_interval_ns = 0;
    double wakeup_fill = 0;
    bool force_perf_buffer = false;
  } channel;
  struct Queue {
    uint64_t batches = 0;
    uint64_t batch_bytes = 0;
  } queue;
  struct Metrics {
    uint64_t max_series_per_metric = 0;
    uint64_t series_ttl_ns = 0;
  } metrics;
  struct Web {
    std::string tls_cert_file;
    std::string tls_key_file;
    std::map<std::string, std::string> basic_auth_users;
    uint64_t max_connections = 0;
    uint64_t max_connections_per_client = 0;
    uint64_t max_request_size = 0;  // bytes: request line + headers
    uint64_t client_timeout_ns = 0;
    uint64_t threads = 0;
    uint64_t min_scrape_interval_ns = 0;
  } web;
  struct Otlp {
    std::string file;
    uint64_t interval_ns = 0;
    std::string endpoint;
    std::map<std::string, std::string> headers;
    bool gzip = false;
    uint64_t timeout_ns = 0;
    uint64_t queue_bytes = 0;
    uint64_t shutdown_timeout_ns = 0;
    uint64_t max_backoff_ns = 0;
    // How kernel log2 histograms go out (exporters::OtlpHistograms):
    // "exponential" (lossless, scale 0) or "explicit" (Prometheus' buckets).
    std::string histograms = "exponential";
  } otlp;
  struct Events {
    std::string file;
    uint64_t rate_limit = 0;  // records/s per event probe (open, signal, oomkill); 0: none
    uint64_t rate_burst = 0;  // 0: rate_limit
  } events;
  struct Profile {
    uint64_t frequency_hz = 99;
    // Serve /debug/pprof/profile when the profile probe runs: its stack maps
    // are made at start, and filled only while a profile is taken.
    bool pprof = true;
  } profile;
  struct Cgroups {
    uint64_t map_entries = 0;        // size of every per-cgroup kernel map; 0: built-in
    uint64_t prune_interval_ns = 0;  // how often dead cgroups leave the maps; 0: never
  } cgroups;
  // Who a cgroup id belongs to (docs/identity.md).
  struct Identity {
    std::vector<std::string> labels;  // identity labels on metrics, in place of cgroup_id
    std::string kubernetes;           // auto, on, off: watch this node's pods
    std::string kubeconfig;           // empty: in-cluster service account
    std::string node_name;            // empty: NODE_NAME, else the hostname
    uint64_t deleted_pod_ttl_ns = 0;  // how long a deleted pod stays resolvable
  } identity;
  // Least privilege after attach (docs/deployment.md, "Capabilities").
  struct Privileges {
    std::vector<std::string> keep_capabilities;  // auto, all, none, or capability names
    std::string user;                            // become this user after attach; empty: stay
  } privileges;
  // Adaptive sampling of a probe's records at the source (docs/fidelity.md):
  // by probe name; a probe not listed keeps every record.
  struct Sampling {
    double baseline = 1;         // keep ratio in quiet times
    double error_boost = 1;      // ratio while errors or the rate are over threshold
    double error_threshold = 1;  // errors per second that call for the boost
    double qps_threshold = 0;    // records per second that call for it; 0: never
    double min = 0.01;           // bounds of the ratio; min is also the governor's
    double max = 1;
    bool keep_errors = true;               // errors are kept whatever the ratio
    uint64_t calm_ns = 10'000'000'000ull;  // below both thresholds this long: step down
    bool operator==(const Sampling&) const = default;
  };
  std::map<std::string, Sampling> sampling;
  // What the agent may cost the node (docs/fidelity.md, "The governor").
  struct Budget {
    double bpf_cpu = 0;    // BPF run time per wall second, as a share of all CPUs; 0: none
    double agent_cpu = 0;  // the agent's own CPU, as a share of all CPUs; 0: none
    uint64_t interval_ns = 1'000'000'000ull;        // how often it is measured
    uint64_t restore_after_ns = 30'000'000'000ull;  // under budget this long: undo a step
    std::vector<std::string> protect;               // probes never detached
    bool operator==(const Budget&) const = default;
  } budget;
  bool bpf_stats = true;
  std::vector<std::string> disable_features;
  std::string log_level;
  // Things worth one log line once logging is set up (e.g. a probe listed twice).
  std::vector<std::string> notes;
};

// The YAML compiled into the binary (deploy/ksight.yaml).
std::string_view default_config_yaml();

// The embedded default, then `yaml` on top of it. `source` names the text in
// error messages (a file path, or "<default>").
std::expected<Config, std::string> parse_config(std::string_view yaml, std::string_view source);
std::expected<Config, std::string> load_config_file(const std::string& path);
Config default_config();

// Removes repeated probe names, keeping the first of each (a probe listed
// twice would attach twice and count everything twice). Returns a one-line
// note naming the repeats, or "" when there were none.
std::string dedupe_probes(std::vector<std::string>& probes);

// Checks values that parse but make no sense together.
std::expected<void, std::string> validate(const Config& c, std::string_view source);

}  // namespace ksight::config
