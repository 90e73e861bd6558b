// ksight: one binary, three ways to use it (run, trace, probes).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "probes/probe.h"
#include "version.h"

int main(int argc, char** argv) {
  using namespace ksight::cli;
  CLI::App app{"ksight: eBPF observability for Linux nodes", "ksight"};
  app.set_version_flag("--version", "ksight " KSIGHT_VERSION);
  app.require_subcommand(1);
  app.footer(
      "\nEXAMPLES:\n"
      "  ksight run                          # daemon on the embedded default config, /metrics on "
      ":9437\n"
      "  ksight run --config /etc/ksight/ksight.yaml\n"
      "  ksight trace exec                   # every exec, as columns\n"
      "  ksight trace exec,exit -o json --duration 10s\n"
      "  ksight probes                       # what this kernel allows\n"
      "  ksight doctor                       # what is missing, and what to do about it\n"
      "  ksight explain PROBE                # its attach plan, programs, maps and cost\n"
      "  ksight check-config /etc/ksight/ksight.yaml   # before a restart or a reload (SIGHUP)\n");

  RunFlags run;
  auto* run_cmd =
      app.add_subcommand("run", "Run the node daemon: Prometheus /metrics, OTLP, events");
  run_cmd
      ->add_option("-c,--config", run.config_file, "YAML config file (default: the embedded one)")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--listen", run.listen, "ADDRESS:PORT for /metrics (default 0.0.0.0:9437)");
  run_cmd->add_option("--otlp-file", run.otlp_file,
                      "write OTLP/JSON here each interval ('-': stdout)");
  run_cmd->add_option("--otlp-interval", run.otlp_interval, "OTLP export interval, e.g. 10s");
  run_cmd->add_option("--min-scrape-interval", run.min_scrape_interval,
                      "scrapes of /metrics within this share one render (web.min_scrape_interval, "
                      "default 1s; 0s renders every scrape)");
  run_cmd->add_option("--otlp-endpoint", run.otlp_endpoint,
                      "push OTLP/HTTP to this collector, e.g. http://collector:4318 "
                      "(default: $OTEL_EXPORTER_OTLP_ENDPOINT)");
  run_cmd->add_option("--otlp-header", run.otlp_headers,
                      "extra OTLP request header NAME=VALUE (repeatable)");
  run_cmd->add_flag("--otlp-gzip", run.otlp_gzip, "gzip OTLP/HTTP request bodies");
  run_cmd->add_option("--otlp-histograms", run.otlp_histograms,
                      "how kernel log2 histograms go out over OTLP: exponential (lossless, the "
                      "default) or explicit (Prometheus' buckets)");
  run_cmd->add_option("--identity-labels", run.identity_labels,
                      "labels per-cgroup metrics carry, e.g. namespace,workload or cgroup_id "
                      "(identity.labels; docs/identity.md)");
  run_cmd->add_option("--kubeconfig", run.kubeconfig,
                      "watch this node's pods through this kubeconfig (identity.kubeconfig)");
  run_cmd->add_option("--node-name", run.node_name,
                      "this node's Kubernetes name (identity.node_name; default $NODE_NAME, "
                      "else the hostname)");
  run_cmd->add_option("--events-file", run.events_file,
                      "write events as JSON lines here ('-': stdout)");
  run_cmd->add_option("--probes", run.probes,
                      "comma-separated probes to load (default: exec,exit)");
  run_cmd->add_flag("--force-perf-buffer", run.force_perf_buffer,
                    "use the perf buffer even where the ring buffer works");
  run_cmd
      ->add_option("--disable-feature", run.disable_features,
                   "treat a kernel feature as missing (tp_btf, raw_tp, tracepoint, fentry, "
                   "kprobe, ringbuf)")
      ->delimiter(',');
  run_cmd->add_option("--log-level", run.log_level, "trace, debug, info, warn, error");
  run_cmd->add_option("--keep-capabilities", run.keep_capabilities,
                      "capabilities kept once every probe is attached: auto (default: "
                      "CAP_DAC_READ_SEARCH, plus CAP_BPF where the kernel needs it for map reads), "
                      "none, all, or a list such as CAP_DAC_READ_SEARCH,CAP_BPF "
                      "(privileges.keep_capabilities)");
  run_cmd->add_option("--user", run.user,
                      "after attach, become this user (name or uid), keeping only those "
                      "capabilities (privileges.user)");

  TraceFlags trace;
  auto* trace_cmd = app.add_subcommand("trace", "Trace probes from a shell until Ctrl-C");
  trace_cmd->add_option("probes", trace.probes, "PROBE[,PROBE...] (see ksight probes)")->required();
  trace_cmd
      ->add_option("-o,--output", trace.output,
                   "text (columns), json (JSON lines); profile, offcpu: folded (stacks for "
                   "flamegraph.pl), or pprof FILE (gzipped pprof)")
      ->check(CLI::IsMember({"text", "json", "folded", "pprof"}));
  trace_cmd
      ->add_option("-f,--stack-format", trace.stack_format,
                   "profile, offcpu: print stacks in this format: folded")
      ->check(CLI::IsMember({"folded"}));
  trace_cmd->add_option("--pprof", trace.pprof_file,
                        "profile, offcpu: write a gzipped pprof profile to FILE");
  trace_cmd->add_option("--svg", trace.svg_file,
                        "profile, offcpu: write a flame graph SVG (interactive) to FILE");
  trace_cmd->add_option("--min-block", trace.min_block,
                        "offcpu: count blocks at least this long (default 1ms)");
  trace_cmd->add_option("-d,--duration", trace.duration,
                        "stop after this long, e.g. 500ms, 10s, 5m");
  trace_cmd->add_option(
      "-i,--interval", trace.interval,
      "histogram probes: print the histogram every interval, e.g. 5s (and at exit)");
  trace_cmd->add_option("-p,--pid", trace.pid, "only this process (thread group id)");
  trace_cmd->add_option("--comm", trace.comm, "only processes with this command name");
  trace_cmd->add_option("--cgroup", trace.cgroup,
                        "only processes in this cgroup v2 (path under the cgroup2 mount)");
  trace_cmd->add_option("--namespace", trace.ns, "only pods of this Kubernetes namespace");
  trace_cmd->add_option("--pod", trace.pod, "only this pod: NAMESPACE/NAME, a name or a UID");
  trace_cmd->add_option("--container", trace.container,
                        "only this container: its name, or 12+ digits of its id");
  trace_cmd->add_option("--unit", trace.unit,
                        "only this systemd unit or slice, and what runs below it");
  trace_cmd->add_option("--kubeconfig", trace.kubeconfig,
                        "pod names and namespaces from this API server (default: in-cluster, "
                        "when there is one)");
  trace_cmd->add_flag("--failed", trace.failed, "only failures: non-zero exits, failed opens");
  trace_cmd->add_option("--user", trace.user,
                        "run -- CMD as this user (name or uid), with its groups");
  // CLI11 wraps "-3" into a 64-bit unsigned: negative counts are refused here.
  trace_cmd->add_option("-n,--count", trace.count, "stop after printing this many events")
      ->check(CLI::NonNegativeNumber);
  trace_cmd->add_option("--by", trace.by,
                        "break histograms and counters down by cgroup, process, disk or syscall "
                        "(where the probe has that key)");
  trace_cmd
      ->add_option("--rate-limit", trace.rate_limit,
                   "at most this many records per second per probe (open, signal, "
                   "oomkill), dropped and counted in the kernel past it; 0: no limit")
      ->check(CLI::NonNegativeNumber);
  trace_cmd
      ->add_option("--frequency", trace.frequency_hz,
                   "profile: cpu-clock samples per second per CPU (default 99)")
      ->check(CLI::Range(1, 10000));
  trace_cmd->add_flag("--force-perf-buffer", trace.force_perf_buffer,
                      "use the perf buffer even where the ring buffer works");
  trace_cmd
      ->add_option("--disable-feature", trace.disable_features,
                   "treat a kernel feature as missing, to force a fallback")
      ->delimiter(',');
  trace_cmd->add_option("--log-level", trace.log_level, "log level on stderr (default warn)");
  std::string probe_list;
  for (const auto& p : ksight::probes::probe_table())
    probe_list += "  " + std::string(p.name) +
                  std::string(12 - std::min<size_t>(p.name.size(), 11), ' ') +
                  std::string(p.summary) + "\n";
  trace_cmd->footer(
      "\nPROBES (ksight probes says which this kernel allows):\n" + probe_list +
      "\nEXAMPLES:\n"
      "  ksight trace exec\n"
      "  ksight trace exec --comm bash -o json\n"
      "  ksight trace exit -p 1234 --duration 30s\n"
      "  ksight trace exec,exit --count 100\n"
      "  ksight trace exec,exit -- make -j2      # run make, trace it and its children, exit with "
      "its code\n"
      "  ksight trace exit --failed              # only processes that exited non-zero or were "
      "killed\n"
      "  ksight trace open --failed --comm nginx # failed opens of nginx, with the errno\n"
      "  ksight trace runqlat -i 5s --by cgroup  # run-queue latency per cgroup every 5 s\n"
      "  ksight trace biolatency --by disk       # block I/O latency per disk, at Ctrl-C\n"
      "  ksight trace syscalls -d 10s            # syscall counts and latency for 10 s\n"
      "  ksight trace profile --by process -d 5s # on-CPU samples per command\n"
      "  ksight trace profile -f folded -d 10s > out.folded   # stacks for flamegraph.pl\n"
      "  ksight trace profile -p 1234 -d 30s --svg cpu.svg    # a flame graph of one process\n"
      "  ksight trace offcpu --pod api -d 10s -o pprof off.pb.gz  # where a pod blocks\n"
      "  ksight trace signal,oomkill             # fatal signals and OOM kills as they happen\n");

  TopFlags top;
  auto* top_cmd = app.add_subcommand(
      "top", "Live table per process or container: CPU, execs, syscalls, opens, TCP");
  top_cmd
      ->add_option("--by", top.by, "process, container (cgroup), pod, namespace or unit (systemd)")
      ->check(CLI::IsMember({"process", "container", "pod", "namespace", "unit"}));
  top_cmd->add_option("-s,--sort", top.sort,
                      "sort column: cpu, execs, syscalls, opens, tcp, bytes, retrans");
  top_cmd->add_option("-i,--interval", top.interval, "refresh every interval (default 2s)");
  top_cmd->add_option("-d,--duration", top.duration, "stop after this long");
  top_cmd->add_option("-n,--iterations", top.iterations, "stop after this many refreshes")
      ->check(CLI::NonNegativeNumber);
  top_cmd->add_option("--rows", top.rows, "rows per table when stdout is not a terminal")
      ->check(CLI::PositiveNumber);
  top_cmd
      ->add_option("--disable-feature", top.disable_features,
                   "treat a kernel feature as missing, to force a fallback")
      ->delimiter(',');
  top_cmd->add_option("--log-level", top.log_level, "log level on stderr (default error)");
  top_cmd->footer(
      "\nKEYS: q quits; c, e, s, o, t, b, r sort by CPU, execs, syscalls, opens, TCP\n"
      "connections, TCP kilobytes, retransmits. When stdout is not a terminal, a plain\n"
      "table is printed every interval.\n"
      "\nEXAMPLES:\n"
      "  ksight top\n"
      "  ksight top --by container --sort syscalls\n"
      "  ksight top -n 3 -i 1s | tee top.log\n");

  ProbesFlags probes;
  auto* probes_cmd =
      app.add_subcommand("probes", "List probes: available here or not, attach method, why");
  probes_cmd->add_flag("--json", probes.json, "print JSON");
  probes_cmd
      ->add_option("--disable-feature", probes.disable_features,
                   "treat a kernel feature as missing")
      ->delimiter(',');

  auto* doctor_cmd = app.add_subcommand(
      "doctor", "Check the kernel and host for what ksight needs; exit 0 when it can run");

  ExplainFlags explain;
  auto* explain_cmd = app.add_subcommand(
      "explain",
      "Load one probe and show its attach plan, programs, maps, metrics and cost; or, with "
      "'losses', the running daemon's loss ledger");
  explain_cmd->add_option("probe", explain.probe, "PROBE (see ksight probes), or losses")
      ->required();
  explain_cmd->add_option("--url", explain.url,
                          "explain losses: the daemon's /metrics URL (default: "
                          "http://127.0.0.1:PORT/metrics, PORT from --config's listen)");
  explain_cmd->add_option("-o,--output", explain.output, "text or json")->default_str("text");
  explain_cmd
      ->add_option("-d,--duration", explain.duration,
                   "window over which run counts and times are measured")
      ->default_str("2s");
  explain_cmd->add_option("--config", explain.config_file,
                          "series caps and sizes from this file (default: the embedded config)");
  explain_cmd
      ->add_option("--disable-feature", explain.disable_features,
                   "treat a kernel feature as missing")
      ->delimiter(',');
  explain_cmd->footer(
      "\nThe probe is loaded and attached for the window, alone, and measured over whatever\n"
      "the node does meanwhile; its records are not read. Exit 1 when it cannot attach.\n"
      "\n'ksight explain losses' reads the running daemon's /metrics and prints, for each\n"
      "event probe, its records at every hop from the kernel to each sink. Exit 1 when\n"
      "the daemon cannot be read.\n"
      "\nEXAMPLES:\n"
      "  ksight explain tcp\n"
      "  ksight explain syscalls -o json -d 5s\n"
      "  ksight explain losses\n");

  std::string check_file;
  auto* check_cmd = app.add_subcommand(
      "check-config",
      "Check a config file as `run --config FILE` would, loading nothing; exit 0 or 2");
  check_cmd->add_option("file", check_file, "YAML config file")->required();

  // `ksight trace PROBE -- CMD ARGS...`: what follows "--" is the command to
  // run, never options or probes, so it is cut off before CLI11 parses.
  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto dash = std::find(args.begin(), args.end(), "--"); dash != args.end()) {
    trace.command.assign(dash + 1, args.end());
    args.erase(dash, args.end());
    if (trace.command.empty()) {
      std::fprintf(stderr, "ksight: nothing after -- (expected a command to run)\n");
      return kExitUsage;
    }
  }
  // `-o pprof FILE` (the file is the option's second word) is `--pprof FILE`.
  for (size_t i = 0; i + 2 < args.size(); ++i)
    if ((args[i] == "-o" || args[i] == "--output") && args[i + 1] == "pprof" &&
        !args[i + 2].starts_with("-")) {
      args[i] = "--pprof";
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector

  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ksight: %s (see ksight --help)\n", e.what());
    return kExitUsage;
  }

  if (!trace.command.empty() && !*trace_cmd) {
    std::fprintf(stderr, "ksight: only trace takes -- CMD\n");
    return kExitUsage;
  }
  if (*run_cmd) return run_daemon(run);
  if (*trace_cmd) return run_trace(trace);
  if (*top_cmd) return run_top(top);
  if (*probes_cmd) return run_probes(probes);
  if (*doctor_cmd) return run_doctor();
  if (*explain_cmd)
    return explain.probe == "losses" ? run_explain_losses(explain) : run_explain(explain);
  if (*check_cmd) return run_check_config(check_file);
  return kExitUsage;
}
