#pragma once
// The subcommands. Each returns the process exit code.
#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "config/config.h"

namespace ksight::cli {

struct RunFlags {
  std::string config_file;
  std::string listen;
  std::string otlp_file;
  std::string otlp_interval;
  std::string min_scrape_interval;
  std::string otlp_endpoint;
  std::vector<std::string> otlp_headers;  // NAME=VALUE
  bool otlp_gzip = false;
  std::string otlp_histograms;  // exponential | explicit
  std::string events_file;
  std::string probes;           // comma-separated
  std::string identity_labels;  // comma-separated
  std::string kubeconfig;
  std::string node_name;
  std::string log_level;
  bool force_perf_buffer = false;
  std::vector<std::string> disable_features;
  std::string keep_capabilities;  // auto, all, none, or a comma-separated list
  std::string user;               // become this user after attach
};
int run_daemon(const RunFlags& flags);
// What `run` runs with: the file (or the embedded default), then the flags,
// then the OTEL_* variables, validated. A reload (SIGHUP) calls it again.
std::expected<config::Config, std::string> resolve_config(const RunFlags& flags);

// ksight check-config FILE: `run --config FILE`'s parse and validation, and
// nothing loaded (no privilege needed).
int run_check_config(const std::string& path);

struct TraceFlags {
  std::vector<std::string> probes;  // each may be comma-separated
  std::string output = "text";      // text | json | folded | pprof (with pprof_file)
  std::string stack_format;         // -f folded: the same as -o folded
  std::string pprof_file;           // stack probes: write pprof here
  std::string svg_file;             // stack probes: write a flame graph here
  std::string min_block;            // offcpu: shortest block counted
  std::string duration;
  std::string interval;  // histogram probes: print every interval too
  uint32_t pid = 0;
  std::string comm;
  std::string cgroup;                    // cgroup v2 path
  std::string ns, pod, container, unit;  // workload filters (docs/identity.md)
  std::string kubeconfig;                // pod names for them from this API server
  bool failed = false;                   // only failures
  std::vector<std::string> command;      // -- CMD ARGS...: run it, trace its tree
  std::string user;                      // run CMD as this user
  uint64_t count = 0;
  std::string by;              // break histograms and counters down by this key
  uint64_t rate_limit = 0;     // records/s per probe, in the kernel; 0: none
  uint32_t frequency_hz = 99;  // profile: samples per second per CPU
  bool force_perf_buffer = false;
  std::vector<std::string> disable_features;
  std::string log_level = "warn";
};
int run_trace(const TraceFlags& flags);

struct TopFlags {
  std::string by = "process";  // process | container
  std::string sort = "cpu";    // cpu, execs, syscalls, opens, tcp, bytes, retrans
  std::string interval = "2s";
  std::string duration;
  uint64_t iterations = 0;  // stop after this many refreshes; 0: until q or a signal
  size_t rows = 20;         // when stdout is not a terminal
  std::vector<std::string> disable_features;
  std::string log_level = "error";
};
int run_top(const TopFlags& flags);

struct ProbesFlags {
  std::vector<std::string> disable_features;
  bool json = false;
};
int run_probes(const ProbesFlags& flags);

int run_doctor();

// ksight explain PROBE: loads the probe alone and reports its attach plan,
// programs, maps, metrics and cost (explain_cmd.cpp).
struct ExplainFlags {
  std::string probe;
  std::string output = "text";  // text | json
  std::string duration = "2s";  // the window its programs' run time is measured over
  std::string config_file;      // caps and sizes from here (default: the embedded config)
  std::vector<std::string> disable_features;
  std::string log_level = "warn";
  std::string url;  // explain losses: the daemon's /metrics (default: from --config's listen)
};
int run_explain(const ExplainFlags& flags);
// ksight explain losses: the running daemon's loss ledger (explain_losses.cpp).
int run_explain_losses(const ExplainFlags& flags);

}  // namespace ksight::cli
