// Loading one probe, and changing the probe set of a running agent (a
// configuration reload, SIGHUP).
//
// Why this is safe without stopping any thread:
// - Every probe writes into the one event channel the agent made at start,
//   so the reader thread's epoll set never changes: it goes on draining the
//   same ring (or perf) buffer whatever probes write into it.
// - probes_, specs_ and status_ are read only by the dispatcher (probe_for,
//   while it holds a registry Writer) and by the refresher (which runs under
//   the registry lock). set_probes() changes them while holding a Writer too,
//   so neither ever sees them half-changed.
// - The slow parts stay outside that lock: loading and verifying new objects
//   happens before it is taken, and detaching the removed ones (destroying
//   their links and objects) after it is released, so events keep flowing
//   and scrapes keep answering meanwhile.
// - Records of a probe attached before it joins probes_, or written by a
//   removed probe before its detach, reach the dispatcher without a decoder:
//   quiet_ marks those ids so they are dropped, not counted as malformed.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "bpf/attach.h"
#include "core/clock.h"
#include "runtime/agent.h"

namespace ksight::runtime {

std::unique_ptr<probes::Probe> Agent::load_one(const probes::ProbeSpec& spec, ProbeStatus& st) {
  st = ProbeStatus{.name = std::string(spec.name)};
  uint64_t wakeup = static_cast<uint64_t>(std::clamp(opts_.wakeup_fill, 0.0, 1.0) *
                                          static_cast<double>(channel_->bytes()));
  std::unique_ptr<probes::Probe> loaded;
  // The first variant the kernel supports; should it fail to load (a
  // tracepoint whose arguments differ on this kernel), the next one.
  std::span<const bpf::AttachVariant> left = spec.variants;
  std::vector<std::string> failures;
  while (!st.up) {
    auto choice = bpf::choose_variant(left, features_);
    if (!choice.chosen) {
      if (failures.empty()) st.reason = "no attach method available: " + choice.reason();
      break;
    }
    if (!choice.skipped.empty()) {
      spdlog::info("probe {}: using {} because {}", spec.name,
                   bpf::to_string(choice.chosen->method), choice.reason());
    }
    probes::LoadRequest req{.channel = channel_.get(),
                            .variant = choice.chosen,
                            .wakeup_bytes = wakeup,
                            .filter_tgid = opts_.filter_tgid,
                            .filter_comm = opts_.filter_comm,
                            .filter_cgroup = opts_.filter_cgroup,
                            .cgroup_filter_fd = cgroup_filter_ ? cgroup_filter_.get() : -1,
                            .filter_failed = opts_.filter_failed,
                            .rate_limit = spec.rate_limited ? opts_.event_rate_limit : 0,
                            .rate_burst = opts_.event_rate_burst,
                            .sample_frequency_hz = opts_.profile_frequency_hz,
                            .per_process = opts_.per_process,
                            .cgroup_maps = spec.cgroup_maps,
                            .cgroup_map_entries = opts_.cgroup_map_entries,
                            .stacks = opts_.stack_probes.contains(std::string(spec.name)),
                            .offcpu_min_block_ns = opts_.offcpu_min_block_ns};
    auto probe = spec.create(req, registry_);
    if (probe) {
      st.up = true;
      st.method = bpf::to_string(choice.chosen->method);
      st.target = std::string(choice.chosen->target);
      loaded = std::move(*probe);
      break;
    }
    failures.push_back(std::string(bpf::to_string(choice.chosen->method)) + ": " + probe.error());
    st.reason = failures.front();
    for (size_t i = 1; i < failures.size(); ++i) st.reason += "; " + failures[i];
    left = left.subspan(static_cast<size_t>(choice.chosen - left.data()) + 1);
    if (!left.empty()) {
      spdlog::info("probe {}: {} failed ({}), trying the next method", spec.name,
                   bpf::to_string(choice.chosen->method), probe.error());
    }
  }
  if (!st.up) {
    if (!opts_.require_all) spdlog::warn("probe {} is off: {}", st.name, st.reason);
  } else {
    spdlog::info("probe {} attached ({} {})", st.name, st.method, st.target);
  }
  return loaded;
}

Agent::ProbeChange Agent::set_probes(const std::vector<std::string>& names) {
  ProbeChange ch;
  const std::set<std::string> wanted(names.begin(), names.end());

  struct Loaded {
    const probes::ProbeSpec* spec;
    std::unique_ptr<probes::Probe> probe;  // null: it failed
    ProbeStatus status;
  };
  std::vector<Loaded> loaded;
  for (const auto& name : names) {
    const probes::ProbeSpec* spec = probes::find_probe(name);
    if (!spec) {
      ch.failed.push_back(name + ": unknown probe");
      continue;
    }
    auto running = std::find_if(status_.begin(), status_.end(),
                                [&](const ProbeStatus& s) { return s.name == spec->name; });
    if (running != status_.end() && running->up) continue;  // stays attached, untouched
    // Listed but off (it failed before): another try, as at start.
    quiet_[spec->id].store(true, std::memory_order_relaxed);
    Loaded l{spec, nullptr, {}};
    l.probe = load_one(*spec, l.status);
    if (l.probe)
      ch.added.push_back(name);
    else
      ch.failed.push_back(name + ": " + l.status.reason);
    loaded.push_back(std::move(l));
  }

  std::vector<std::unique_ptr<probes::Probe>> retired;
  {
    auto w = registry_.write(core::mono_ns());
    for (size_t i = 0; i < specs_.size();) {
      if (wanted.count(std::string(specs_[i]->name))) {
        ++i;
        continue;
      }
      quiet_[specs_[i]->id].store(true, std::memory_order_relaxed);
      retired.push_back(std::move(probes_[i]));
      probes_.erase(probes_.begin() + static_cast<ptrdiff_t>(i));
      specs_.erase(specs_.begin() + static_cast<ptrdiff_t>(i));
    }
    for (auto it = status_.begin(); it != status_.end();) {
      const bool gone = !wanted.count(it->name);
      const bool retried = std::any_of(loaded.begin(), loaded.end(),
                                       [&](const Loaded& l) { return l.status.name == it->name; });
      if (!gone && !retried) {
        ++it;
        continue;
      }
      if (gone) {
        ch.removed.push_back(it->name);
        for (auto f : per_probe_families_) w.remove_series(f, it->name);
      } else {
        w.remove_series(up_family_, it->name);  // its attach label may change
      }
      it = status_.erase(it);
    }
    for (auto& l : loaded) {
      if (l.probe) {
        probes_.push_back(std::move(l.probe));
        specs_.push_back(l.spec);
      }
      status_.push_back(std::move(l.status));
    }
  }
  // Detached here, outside the lock.
  for (const auto& name : ch.removed) spdlog::info("probe {} detached", name);
  retired.clear();
  note_cgroup_map_probes();
  if (!ch.added.empty()) shed_load_time_memory();
  return ch;
}

void Agent::set_cgroup_prune_interval(uint64_t ns) {
  auto w = registry_.write(core::mono_ns());  // the refresher reads it under this lock
  opts_.cgroup_prune_interval_ns = ns;
  next_prune_ns_ = 0;
}

}  // namespace ksight::runtime
