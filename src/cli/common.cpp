#include "cli/common.h"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

namespace ksight::cli {

void block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout pipe is an error return, not death
}

int wait_for_signal(std::chrono::milliseconds timeout) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  timespec ts{static_cast<time_t>(timeout.count() / 1000),
              static_cast<long>((timeout.count() % 1000) * 1'000'000)};
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

std::chrono::milliseconds idle_wait(uint64_t now_ns, std::initializer_list<uint64_t> due_ns,
                                    std::chrono::milliseconds longest) {
  uint64_t earliest = UINT64_MAX;
  for (uint64_t d : due_ns) earliest = std::min(earliest, d);
  if (earliest <= now_ns) return std::chrono::milliseconds(0);
  const uint64_t wait_ns = earliest - now_ns;  // rounded up; no overflow near UINT64_MAX
  const uint64_t ms = wait_ns / 1'000'000 + (wait_ns % 1'000'000 != 0);
  return std::min(longest, std::chrono::milliseconds(std::min<uint64_t>(ms, INT32_MAX)));
}

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("ksight");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

identity::KubeSourceOptions kube_options(const config::Config& c) {
  return {.mode = c.identity.kubernetes,
          .kubeconfig = c.identity.kubeconfig,
          .node_name = c.identity.node_name,
          .deleted_pod_ttl_ns = c.identity.deleted_pod_ttl_ns};
}

std::vector<identity::Label> identity_labels(const config::Config& c) {
  std::vector<identity::Label> out;
  for (const auto& name : c.identity.labels) {
    if (auto l = identity::parse_label(name)) out.push_back(*l);
  }
  return out;
}

runtime::AgentOptions agent_options(const config::Config& c) {
  runtime::AgentOptions o;
  o.probes = c.probes;
  o.force_perf_buffer = c.channel.force_perf_buffer;
  o.channel_bytes = c.channel.size_bytes;
  o.drain_interval_ms = c.channel.drain_interval_ns / 1'000'000;
  o.wakeup_fill = c.channel.wakeup_fill;
  o.queue_batches = c.queue.batches;
  o.batch_bytes = c.queue.batch_bytes;
  o.bpf_stats = c.bpf_stats;
  o.event_rate_limit = c.events.rate_limit;
  o.event_rate_burst = c.events.rate_burst;
  o.profile_frequency_hz = static_cast<uint32_t>(c.profile.frequency_hz);
  o.disabled_features.insert(c.disable_features.begin(), c.disable_features.end());
  o.cgroup_map_entries = static_cast<uint32_t>(c.cgroups.map_entries);
  o.cgroup_prune_interval_ns = c.cgroups.prune_interval_ns;
  o.sampling = c.sampling;
  o.budget = c.budget;
  return o;
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "ksight: %s\n", message.c_str());
  return code;
}

std::string privilege_hint(const std::string& error) {
  if (::geteuid() != 0 && (error.find("Operation not permitted") != std::string::npos ||
                           error.find("Permission denied") != std::string::npos)) {
    return " (run as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE; "
           "tracepoint attach also needs CAP_SYS_ADMIN on kernels before 5.8)";
  }
  return "";
}

}  // namespace ksight::cli
