#include "runtime/stack_collector.h"

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "identity/resolver.h"

namespace ksight::runtime {

namespace {

// offcpu takes a task's kernel stack inside its sched_switch program: the
// leaf frames are that program and the tracepoint's glue, not where the task
// blocked. (profile's stacks come from the sampled registers: none there.)
bool is_tracing_glue(std::string_view fn) {
  return fn.starts_with("bpf_prog_") || fn.starts_with("bpf_trace_run") ||
         fn.starts_with("__bpf_trace_") || fn.starts_with("perf_trace_") ||
         fn.starts_with("__traceiter_") || fn == "trace_call_bpf";
}

void trim_tracing_glue(std::vector<profile::Frame>& frames) {
  size_t n = 0;
  while (n < frames.size() && frames[n].kernel && is_tracing_glue(frames[n].function)) ++n;
  frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace

std::function<std::string(uint64_t)> StackCollector::workload_names(identity::Resolver& resolver) {
  return [&resolver](uint64_t cgroup_id) -> std::string {
    auto id = resolver.resolve(cgroup_id);
    if (!id) return {};
    if (!id->pod.empty()) return id->ns + "/" + id->pod;
    return id->values[static_cast<size_t>(identity::Label::unit)];
  };
}

StackCollector::StackCollector(probes::StackSource& source, profile::Symbolizer& symbolizer,
                               Options options)
    : source_(source),
      symbolizer_(symbolizer),
      opts_(std::move(options)),
      stacks_(opts_.max_stacks) {
  // Runs on the dispatcher thread under the registry's lock: only queue the
  // pid; reading its mappings and ELF files happens in poll().
  source_.set_new_process_callback([this](uint32_t pid) {
    std::lock_guard lk(noticed_mu_);
    ++stats_.processes_noticed;
    if (noticed_.size() >= opts_.max_pending_processes) {
      ++stats_.processes_not_remembered;
      return;
    }
    noticed_.push_back(pid);
  });
}

StackCollector::~StackCollector() {
  source_.set_new_process_callback({});
}

void StackCollector::remember_noticed() {
  std::vector<uint32_t> pids;
  {
    std::lock_guard lk(noticed_mu_);
    pids.swap(noticed_);
  }
  for (uint32_t pid : pids) symbolizer_.remember_process(pid);
}

void StackCollector::drain() {
  auto drained = source_.drain_stacks();
  std::lock_guard lk(noticed_mu_);
  ++stats_.drains;
  if (!drained) {
    ++stats_.drain_errors;
    if (last_error_ != drained.error()) spdlog::warn("stack drain: {}", drained.error());
    last_error_ = drained.error();
    return;
  }
  for (auto& s : *drained)
    if (!opts_.keep || opts_.keep(s)) stacks_.add(std::move(s));
  stats_.dropped_samples = stacks_.dropped_samples();
}

void StackCollector::poll(uint64_t now_mono_ns) {
  remember_noticed();
  if (now_mono_ns < next_drain_ns_) return;
  next_drain_ns_ = now_mono_ns + opts_.drain_interval_ns;
  drain();
}

void StackCollector::reset() {
  remember_noticed();
  drain();
  std::lock_guard lk(noticed_mu_);
  stacks_.take();
}

profile::Profile StackCollector::finish(int64_t start_unix_ns, uint64_t duration_ns) {
  remember_noticed();
  drain();
  profile::Profile p;
  p.kind = source_.kind();
  p.period_ns = source_.period_ns();
  p.start_unix_ns = start_unix_ns;
  p.duration_ns = duration_ns;
  std::vector<profile::RawStack> raw;
  {
    std::lock_guard lk(noticed_mu_);
    raw = stacks_.take();
  }
  p.samples.reserve(raw.size());
  for (const auto& r : raw) {
    profile::Sample s = symbolizer_.symbolize(r);
    trim_tracing_glue(s.frames);
    if (opts_.workload_of) s.workload = opts_.workload_of(r.cgroup_id);
    p.samples.push_back(std::move(s));
  }
  return p;
}

StackCollector::Stats StackCollector::stats() const {
  std::lock_guard lk(noticed_mu_);
  return stats_;
}

std::string StackCollector::last_error() const {
  std::lock_guard lk(noticed_mu_);
  return last_error_;
}

}  // namespace ksight::runtime
