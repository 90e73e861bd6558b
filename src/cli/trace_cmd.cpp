// ksight trace: one-shot tracing from a shell.
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/trace_printer.h"
#include "config/units.h"
#include "core/clock.h"
#include "probes/probe.h"

namespace ksight::cli {

int run_trace(const TraceFlags& flags) {
  std::vector<std::string> names;
  for (const auto& arg : flags.probes) {
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) names.push_back(item);
  }
  if (names.empty()) return fail(kExitUsage, "trace: name at least one probe (see ksight probes)");
  for (const auto& n : names) {
    if (!probes::find_probe(n)) {
      std::string msg = "unknown probe '" + n + "'";
      auto near = probes::closest_probes(n);
      if (!near.empty()) msg += "; did you mean " + std::string(near.front()) + "?";
      msg += " (ksight probes lists them all)";
      return fail(kExitUsage, msg);
    }
  }
  if (flags.output != "text" && flags.output != "json")
    return fail(kExitUsage, "-o: expected text or json, got '" + flags.output + "'");
  uint64_t duration_ns = 0;
  if (!flags.duration.empty()) {
    auto d = config::parse_duration_ns(flags.duration);
    if (!d) return fail(kExitUsage, "--duration: " + d.error());
    duration_ns = *d;
  }
  if (flags.comm.size() > 15)
    return fail(kExitUsage, "--comm: the kernel keeps 15 characters of a command name; '" +
                                flags.comm + "' is longer");

  setup_logging(flags.log_level);
  block_stop_signals();

  config::Config c = config::default_config();
  c.probes = names;
  c.channel.force_perf_buffer = flags.force_perf_buffer;
  c.disable_features = flags.disable_features;
  c.bpf_stats = false;  // nobody scrapes a trace
  runtime::AgentOptions opts = agent_options(c);
  opts.require_all = true;
  opts.filter_tgid = flags.pid;
  opts.filter_comm = flags.comm;

  std::span<const std::string_view> columns;
  if (names.size() == 1) columns = probes::find_probe(names.front())->columns;
  TracePrinter printer(
      stdout, flags.output == "json" ? TracePrinter::Format::json : TracePrinter::Format::text,
      columns, flags.count);
  core::Registry registry;
  auto agent = runtime::Agent::start(opts, registry, {&printer});
  if (!agent) return fail(kExitFailure, agent.error() + privilege_hint(agent.error()));

  const uint64_t deadline = duration_ns ? core::mono_ns() + duration_ns : 0;
  while (wait_for_signal(std::chrono::milliseconds(50)) == 0) {
    if (printer.limit_reached()) break;
    if (deadline && core::mono_ns() >= deadline) break;
  }
  (*agent)->stop();
  std::fflush(stdout);
  uint64_t lost = (*agent)->events_lost();
  std::fprintf(stderr, "ksight: %llu events printed, %llu lost\n",
               static_cast<unsigned long long>(printer.printed()),
               static_cast<unsigned long long>(lost));
  return kExitOk;
}

}  // namespace ksight::cli
