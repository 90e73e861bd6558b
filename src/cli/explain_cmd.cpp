// ksight explain PROBE: everything about one probe on this kernel, measured by
// loading it. The attach plan (each variant, chosen or why not), the BTF it
// was relocated against, what the verifier and the JIT made of each program,
// the maps and the memory the kernel charges for them at this CPU count, the
// series it may create under the configured caps, and what one run of its
// programs costs, from BPF stats over a short window of the node's own work.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>
#include <algorithm>

#include <chrono>
#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/event_channel.h"
#include "bpf/features.h"
#include "bpf/handles.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "config/units.h"
#include "core/clock.h"
#include "core/registry.h"
#include "probes/probe.h"

namespace ksight::cli {

namespace {

using nlohmann::json;

// One variant of the plan: what happened to it, in the agent's order.
struct PlanStep {
  const bpf::AttachVariant* variant;
  std::string outcome;  // chosen, skipped, failed, not tried
  std::string reason;
};

struct Loaded {
  std::vector<PlanStep> plan;
  std::unique_ptr<probes::Probe> probe;
};

// Tries the variants the way Agent::load_one does (the first the kernel
// supports; should it fail to load, the next), writing down each outcome.
Loaded load_probe(const probes::ProbeSpec& spec, bpf::KernelFeatures& features,
                  const bpf::EventChannel& channel, const config::Config& c,
                  core::Registry& registry) {
  Loaded out;
  for (const auto& v : spec.variants) {
    if (out.probe) {
      out.plan.push_back({&v, "not tried", "an earlier variant attached"});
      continue;
    }
    auto a = features.attach(v.method, v.target);
    if (!a.ok) {
      out.plan.push_back({&v, "skipped", a.reason});
      continue;
    }
    probes::LoadRequest req{.channel = &channel,
                            .variant = &v,
                            .wakeup_bytes = static_cast<uint64_t>(channel.bytes() / 2),
                            .rate_limit = spec.rate_limited ? c.events.rate_limit : 0,
                            .sample_frequency_hz = static_cast<uint32_t>(c.profile.frequency_hz),
                            .cgroup_maps = spec.cgroup_maps,
                            .cgroup_map_entries = static_cast<uint32_t>(c.cgroups.map_entries)};
    auto p = spec.create(req, registry);
    if (!p) {
      out.plan.push_back({&v, "failed", p.error()});
      continue;
    }
    out.probe = std::move(*p);
    out.plan.push_back({&v, "chosen", ""});
  }
  return out;
}

std::string map_type_name(uint32_t type) {
  const char* s = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type));
  return s ? s : std::to_string(type);
}

std::string bytes_text(uint64_t b) {
  char buf[32];
  if (b >= (1u << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(b) / (1 << 20));
  else if (b >= 1024)
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(b) / 1024);
  else
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

std::string kind_name(core::MetricKind k) {
  switch (k) {
    case core::MetricKind::counter:
      return "counter";
    case core::MetricKind::gauge:
      return "gauge";
    case core::MetricKind::histogram:
      return "histogram";
  }
  return "?";
}

void print_text(const json& doc) {
  std::printf("probe %s: %s\n", doc["probe"].get<std::string>().c_str(),
              doc["summary"].get<std::string>().c_str());
  std::printf("kernel BTF: %s\n", doc["btf"].get<std::string>().c_str());
  std::printf("event channel: %s\n\n", doc["channel"].get<std::string>().c_str());
  std::printf("attach plan (in order of preference):\n");
  for (const auto& s : doc["plan"])
    std::printf("  %-10s %-40s %s%s%s\n", s["method"].get<std::string>().c_str(),
                s["target"].get<std::string>().c_str(), s["outcome"].get<std::string>().c_str(),
                s["reason"].get<std::string>().empty() ? "" : ": ",
                s["reason"].get<std::string>().c_str());
  if (!doc.contains("programs")) return;
  std::printf("\nprograms (over %.1f s of this node's work):\n", doc["window_s"].get<double>());
  std::printf("  %-28s %9s %9s %9s %12s %10s\n", "PROGRAM", "INSNS", "VERIFIED", "JITED", "RUNS",
              "NS/RUN");
  for (const auto& p : doc["programs"]) {
    const uint64_t runs = p["runs"];
    std::printf("  %-28s %9llu %9s %9s %12llu %10s\n", p["name"].get<std::string>().c_str(),
                static_cast<unsigned long long>(p["xlated_insns"].get<uint64_t>()),
                p["verified_insns"].get<uint64_t>()
                    ? std::to_string(p["verified_insns"].get<uint64_t>()).c_str()
                    : "-",
                bytes_text(p["jited_bytes"].get<uint64_t>()).c_str(),
                static_cast<unsigned long long>(runs),
                runs ? std::to_string(p["ns_per_run"].get<uint64_t>()).c_str() : "-");
  }
  std::printf("\nmaps (memory as the kernel charges it, %u possible CPUs):\n",
              doc["possible_cpus"].get<unsigned>());
  std::printf("  %-24s %-20s %6s %7s %9s %10s\n", "MAP", "TYPE", "KEY", "VALUE", "ENTRIES",
              "MEMORY");
  for (const auto& m : doc["maps"])
    std::printf("  %-24s %-20s %6u %7u %9u %10s%s\n", m["name"].get<std::string>().c_str(),
                m["type"].get<std::string>().c_str(), m["key_size"].get<unsigned>(),
                m["value_size"].get<unsigned>(), m["max_entries"].get<unsigned>(),
                ((m["memlock_estimated"].get<bool>() ? "~" : "") +
                 bytes_text(m["memlock_bytes"].get<uint64_t>()))
                    .c_str(),
                m["shared"].get<bool>() ? "  (shared by every probe)" : "");
  std::printf("  own maps: %s\n", bytes_text(doc["own_map_bytes"].get<uint64_t>()).c_str());
  std::printf("\nmetrics (each capped at its series limit, then one __overflow__ series):\n");
  for (const auto& f : doc["metrics"]) {
    std::string labels;
    for (const auto& l : f["labels"]) labels += (labels.empty() ? "" : ",") + l.get<std::string>();
    std::printf("  %-44s %-9s {%s} <= %llu series\n", f["name"].get<std::string>().c_str(),
                f["kind"].get<std::string>().c_str(), labels.c_str(),
                static_cast<unsigned long long>(f["max_series"].get<uint64_t>()));
  }
  std::printf("\nsampling: %s\n", doc["sampling"].get<std::string>().c_str());
  std::printf("budget: %s\n", doc["budget"].get<std::string>().c_str());
}

}  // namespace

int run_explain(const ExplainFlags& flags) {
  if (flags.output != "text" && flags.output != "json")
    return fail(kExitUsage, "-o: expected text or json, got '" + flags.output + "'");
  const probes::ProbeSpec* spec = probes::find_probe(flags.probe);
  if (!spec) {
    std::string hint;
    for (auto n : probes::closest_probes(flags.probe))
      hint += (hint.empty() ? "; did you mean " : " or ") + std::string(n);
    return fail(kExitUsage, "unknown probe '" + flags.probe + "'" + hint + " (see ksight probes)");
  }
  auto window = config::parse_duration_ns(flags.duration);
  if (!window || *window == 0 || *window > 600'000'000'000ull)
    return fail(kExitUsage,
                "--duration: expected a duration from 1ms to 10m, got '" + flags.duration + "'");
  RunFlags rf;
  rf.config_file = flags.config_file;
  auto cfg = resolve_config(rf);
  if (!cfg) return fail(kExitUsage, cfg.error());
  const config::Config& c = *cfg;
  setup_logging(flags.log_level);

  std::set<std::string> disabled(flags.disable_features.begin(), flags.disable_features.end());
  bpf::KernelFeatures features(disabled);
  json doc{{"probe", spec->name}, {"summary", spec->summary}};
  auto btf = features.btf();
  doc["btf"] = btf.ok ? "/sys/kernel/btf/vmlinux" : "none: " + btf.reason;
  auto rb = features.ringbuf();
  const auto kind = rb.ok ? bpf::ChannelKind::ring_buffer : bpf::ChannelKind::perf_buffer;
  doc["channel"] = rb.ok ? "ring buffer" : "perf buffer (" + rb.reason + ")";
  auto channel = bpf::EventChannel::create(kind, static_cast<size_t>(c.channel.size_bytes));
  if (!channel)
    return fail(kExitFailure,
                "event channel: " + channel.error() + privilege_hint(channel.error()));

  core::Registry registry(core::Registry::Options{
      .default_max_series = c.metrics.max_series_per_metric, .series_ttl_ns = 0});
  // The registry's own families (the overflow counter) are not the probe's.
  std::set<std::string> registry_own;
  for (const auto& f : registry.collect(core::mono_ns())) registry_own.insert(f.desc->name);
  // Run time counts only while some process holds BPF stats on.
  bpf::Fd stats(bpf_enable_stats(BPF_STATS_RUN_TIME));
  Loaded loaded = load_probe(*spec, features, *channel, c, registry);
  doc["plan"] = json::array();
  for (const auto& s : loaded.plan)
    doc["plan"].push_back({{"method", bpf::to_string(s.variant->method)},
                           {"target", s.variant->target},
                           {"outcome", s.outcome},
                           {"reason", s.reason}});
  int status = kExitOk;
  if (!loaded.probe) {
    status = kExitFailure;
  } else {
    const auto before = loaded.probe->program_stats();
    const auto t0 = core::mono_ns();
    std::this_thread::sleep_for(std::chrono::nanoseconds(*window));
    const auto after = loaded.probe->program_stats();
    doc["window_s"] = static_cast<double>(core::mono_ns() - t0) / 1e9;
    doc["bpf_stats"] = stats.get() >= 0;
    const auto info = loaded.probe->object_info();
    doc["programs"] = json::array();
    for (size_t i = 0; i < info.programs.size(); ++i) {
      const auto& p = info.programs[i];
      uint64_t runs = 0, ns = 0;
      if (i < before.size() && i < after.size()) {
        runs = after[i].run_count - before[i].run_count;
        ns = after[i].run_time_ns - before[i].run_time_ns;
      }
      doc["programs"].push_back({{"name", p.name},
                                 {"xlated_insns", p.xlated_bytes / 8},
                                 {"verified_insns", p.verified_insns},
                                 {"jited_bytes", p.jited_bytes},
                                 {"runs", runs},
                                 {"run_time_ns", ns},
                                 {"ns_per_run", runs ? ns / runs : 0}});
    }
    uint64_t own = 0;
    doc["maps"] = json::array();
    for (const auto& m : info.maps) {
      if (!m.shared) own += m.memlock_bytes;
      doc["maps"].push_back({{"name", m.name},
                             {"type", map_type_name(m.type)},
                             {"key_size", m.key_size},
                             {"value_size", m.value_size},
                             {"max_entries", m.max_entries},
                             {"memlock_bytes", m.memlock_bytes},
                             {"memlock_estimated", m.memlock_estimated},
                             {"shared", m.shared}});
    }
    doc["own_map_bytes"] = own;
    doc["possible_cpus"] = libbpf_num_possible_cpus();
    doc["metrics"] = json::array();
    for (const auto& f : registry.collect(core::mono_ns())) {
      const auto& d = *f.desc;
      if (registry_own.contains(d.name)) continue;
      doc["metrics"].push_back(
          {{"name", d.name},
           {"kind", kind_name(d.kind)},
           {"labels", d.label_names},
           {"max_series", d.max_series ? d.max_series : c.metrics.max_series_per_metric}});
    }
    // Its sampling and the governor's budget, as the configuration sets them
    // (the daemon's live state: ksight_sampling_ratio, ksight_fidelity).
    std::string sampling = "none; every record is kept";
    if (!spec->emits_events()) {
      sampling = "none; the probe counts in the kernel and emits no event records";
    } else if (auto it = c.sampling.find(std::string(spec->name)); it != c.sampling.end()) {
      const auto& s = it->second;
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "adaptive: %.4g in quiet times, %.4g while errors >= %.4g/s%s, within "
                    "[%.4g, %.4g]; errors %s; down by halves after %.4gs calm",
                    s.baseline, s.error_boost, s.error_threshold,
                    s.qps_threshold > 0
                        ? (" or records >= " + std::to_string(s.qps_threshold) + "/s").c_str()
                        : "",
                    s.min, s.max, s.keep_errors ? "always kept" : "sampled too",
                    static_cast<double>(s.calm_ns) / 1e9);
      sampling = buf;
    }
    if (spec->rate_limited && c.events.rate_limit)
      sampling += "; records past events.rate_limit (" + std::to_string(c.events.rate_limit) +
                  "/s) are dropped and counted";
    doc["sampling"] = sampling;
    std::string budget = "none";
    if (c.budget.bpf_cpu > 0 || c.budget.agent_cpu > 0) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "bpf_cpu %.4g%%, agent_cpu %.4g%% of all CPUs%s",
                    c.budget.bpf_cpu * 100, c.budget.agent_cpu * 100,
                    std::find(c.budget.protect.begin(), c.budget.protect.end(), spec->name) !=
                            c.budget.protect.end()
                        ? "; protected: never detached"
                        : "; the governor may sample, shed and detach it");
      budget = buf;
    }
    doc["budget"] = budget;
  }
  if (flags.output == "json")
    std::printf("%s\n", doc.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  else
    print_text(doc);
  if (status != kExitOk) {
    std::string why;
    for (const auto& s : loaded.plan) why += (why.empty() ? "" : "; ") + s.reason;
    std::fprintf(stderr, "ksight: probe %s cannot attach here: %s%s\n",
                 std::string(spec->name).c_str(), why.c_str(), privilege_hint(why).c_str());
  }
  return status;
}

}  // namespace ksight::cli
