// ksight trace: one-shot tracing from a shell.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/histogram_printer.h"
#include "cli/stack_output.h"
#include "cli/trace_printer.h"
#include "config/units.h"
#include "core/clock.h"
#include "identity/kube_source.h"
#include "identity/resolver.h"
#include "identity/workload_filter.h"
#include "probes/probe.h"
#include "runtime/cgroup.h"
#include "runtime/stack_collector.h"

namespace ksight::cli {

namespace {

// How often workload filters look for new matching cgroups.
constexpr uint64_t kWorkloadRescanNs = 1'000'000'000ull;
// The main loop's waits for signals (see its comment).
constexpr std::chrono::milliseconds kBusyWait{20};
constexpr std::chrono::milliseconds kIdleWait{200};

// Who `--user NAME` runs the command as; looked up before fork (NSS is not
// safe to call in the child of a threaded process).
struct Credentials {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

std::expected<Credentials, std::string> resolve_user(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  int err = ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (!found && !user.empty() && user.find_first_not_of("0123456789") == std::string::npos)
    err = ::getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &found);
  if (!found)
    return std::unexpected("no user '" + user + "'" +
                           (err ? std::string(": ") + std::strerror(err) : ""));
  Credentials c{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  c.groups.resize(static_cast<size_t>(n));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n) < 0) {
    c.groups.resize(static_cast<size_t>(n));
    ::getgrouplist(pw.pw_name, pw.pw_gid, c.groups.data(), &n);
  }
  c.groups.resize(static_cast<size_t>(std::max(n, 0)));
  return c;
}

// The command of `ksight trace ... -- CMD`: forked at once, held before exec
// until the tracer says go (its cgroup is set up and the probes attached, so
// its first exec is seen). It never runs unless told to: when the tracer
// gives up (an error, or it dies) the gate closes without a go and the child
// exits. It dies with the tracer (PR_SET_PDEATHSIG), even by SIGKILL.
class CommandChild {
 public:
  static std::expected<CommandChild, std::string> spawn(const std::vector<std::string>& argv,
                                                        const std::optional<Credentials>& creds) {
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0)
      return std::unexpected(std::string("pipe: ") + std::strerror(errno));
    const pid_t tracer = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) return std::unexpected(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      ::close(gate[1]);
      // Credentials first: changing them clears the parent-death signal.
      if (creds && (::setgroups(creds->groups.size(), creds->groups.data()) != 0 ||
                    ::setgid(creds->gid) != 0 || ::setuid(creds->uid) != 0)) {
        std::fprintf(stderr, "ksight: cannot become uid %u: %s\n", creds->uid,
                     std::strerror(errno));
        ::_exit(126);
      }
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != tracer) ::_exit(127);  // the tracer died before prctl
      char go = 0;
      ssize_t n;
      while ((n = ::read(gate[0], &go, 1)) < 0 && errno == EINTR) {
      }
      if (n != 1 || go != 'g') ::_exit(127);  // the tracer gave up: never run the command
      // Our parent's blocked signals must not stay blocked.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::fprintf(stderr, "ksight: cannot run %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    ::close(gate[0]);
    return CommandChild(pid, gate[1]);
  }
  CommandChild(CommandChild&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), gate_(std::exchange(o.gate_, -1)), status_(o.status_) {}
  ~CommandChild() {
    close_gate();  // without a go: the command exits unrun
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  // Lets the command exec.
  void release() {
    if (gate_ >= 0 && ::write(gate_, "g", 1) != 1) {
      // The child has gone already: poll() reports how.
    }
    close_gate();
  }
  void signal(int sig) const {
    if (!status_) ::kill(pid_, sig);
  }
  bool exited() const { return status_.has_value(); }
  // The command's exit code (128 + signal when killed) once it has exited.
  std::optional<int> poll() {
    int st = 0;
    if (!status_ && ::waitpid(pid_, &st, WNOHANG) == pid_)
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }
  int wait() {
    int st = 0;
    if (!status_ && ::waitpid(pid_, &st, 0) == pid_)
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_.value_or(kExitFailure);
  }

 private:
  CommandChild(pid_t pid, int gate) : pid_(pid), gate_(gate) {}
  void close_gate() {
    if (gate_ >= 0) ::close(gate_);
    gate_ = -1;
  }
  pid_t pid_;
  int gate_;
  std::optional<int> status_;
};

// True once the reader of a pipe on standard output has gone (`| head -1`):
// the write end then polls POLLERR, so the trace ends even when no event
// comes to fail a write.
bool stdout_reader_gone() {
  pollfd p{STDOUT_FILENO, 0, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

}  // namespace

int run_trace(const TraceFlags& flags) {
  std::vector<std::string> names;
  for (const auto& arg : flags.probes) {
    std::stringstream ss(arg);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) names.push_back(item);
  }
  if (names.empty()) return fail(kExitUsage, "trace: name at least one probe (see ksight probes)");
  const std::string repeated = config::dedupe_probes(names);
  for (const auto& n : names) {
    if (!probes::find_probe(n)) {
      std::string msg = "unknown probe '" + n + "'";
      auto near = probes::closest_probes(n);
      if (!near.empty()) msg += "; did you mean " + std::string(near.front()) + "?";
      msg += " (ksight probes lists them all)";
      return fail(kExitUsage, msg);
    }
  }
  if (flags.output != "text" && flags.output != "json" && flags.output != "folded" &&
      flags.output != "pprof")
    return fail(kExitUsage,
                "-o: expected text, json, folded or pprof FILE, got '" + flags.output + "'");
  auto stacks_out = stack_outputs(flags, names);
  if (!stacks_out) return fail(kExitUsage, stacks_out.error());
  uint64_t min_block_ns = 1'000'000;
  if (!flags.min_block.empty()) {
    auto d = config::parse_duration_ns(flags.min_block);
    if (!d) return fail(kExitUsage, "--min-block: " + d.error());
    min_block_ns = *d;
  }
  uint64_t duration_ns = 0;
  if (!flags.duration.empty()) {
    auto d = config::parse_duration_ns(flags.duration);
    if (!d) return fail(kExitUsage, "--duration: " + d.error());
    duration_ns = *d;
  }
  uint64_t interval_ns = 0;
  if (!flags.interval.empty()) {
    auto d = config::parse_duration_ns(flags.interval);
    if (!d) return fail(kExitUsage, "--interval: " + d.error());
    interval_ns = *d;
  }
  // --by: a key at least one of the probes has.
  if (!flags.by.empty()) {
    bool known = false;
    std::set<std::string> keys;
    for (const auto& n : names)
      for (const auto& k : probes::find_probe(n)->by) {
        keys.insert(std::string(k.name));
        known = known || k.name == flags.by;
      }
    if (!known) {
      std::string list;
      for (const auto& k : keys) list += (list.empty() ? "" : ", ") + k;
      return fail(kExitUsage, "--by " + flags.by + ": " +
                                  (list.empty() ? std::string("these probes have no keys to "
                                                              "break down by (runqlat, "
                                                              "biolatency, syscalls, profile do)")
                                                : "these probes break down by " + list));
    }
  }
  if (flags.comm.size() > 15)
    return fail(kExitUsage, "--comm: the kernel keeps 15 characters of a command name; '" +
                                flags.comm + "' is longer");

  uint64_t cgroup = 0;
  if (!flags.cgroup.empty()) {
    if (!flags.command.empty()) return fail(kExitUsage, "--cgroup and -- CMD cannot be combined");
    auto id = runtime::cgroup_id(flags.cgroup);
    if (!id) return fail(kExitUsage, "--cgroup: " + id.error());
    cgroup = *id;
  }

  auto workload =
      identity::WorkloadSelector::from_flags(flags.ns, flags.pod, flags.container, flags.unit);
  if (!workload) return fail(kExitUsage, workload.error());

  std::optional<Credentials> creds;
  if (!flags.user.empty()) {
    if (flags.command.empty()) return fail(kExitUsage, "--user needs a command: -- CMD ARGS...");
    auto c = resolve_user(flags.user);
    if (!c) return fail(kExitUsage, "--user: " + c.error());
    creds = *c;
  }

  setup_logging(flags.log_level);
  if (!repeated.empty()) spdlog::warn("{}", repeated);
  block_stop_signals();

  // -- CMD: the command runs in a cgroup of its own, created here, so the
  // kernel-side filter follows it and every descendant with one comparison.
  // It is a child of our own cgroup, so the command keeps the limits of the
  // slice it was started from (on a hybrid host: in the v2 hierarchy).
  std::optional<runtime::ScopedCgroup> scope;
  std::optional<CommandChild> child;
  if (!flags.command.empty()) {
    auto parent = runtime::own_cgroup_dir();
    if (!parent) return fail(kExitFailure, parent.error());
    // Cgroups of tracers that were SIGKILLed, here and where older versions
    // put them (the root).
    size_t stale = runtime::remove_stale_trace_cgroups(*parent);
    if (std::string root = runtime::cgroup2_mount(); root != *parent)
      stale += runtime::remove_stale_trace_cgroups(root);
    if (stale) spdlog::info("removed {} cgroups left by earlier traces", stale);
    auto cg = runtime::ScopedCgroup::create(*parent, "ksight-trace-" + std::to_string(::getpid()));
    if (!cg) return fail(kExitFailure, cg.error());
    scope.emplace(std::move(*cg));
    auto c = CommandChild::spawn(flags.command, creds);
    if (!c) return fail(kExitFailure, c.error());
    child.emplace(std::move(*c));
    if (auto r = scope->add(child->pid()); !r) return fail(kExitFailure, r.error());
    cgroup = scope->id();
  }

  config::Config c = config::default_config();
  c.probes = names;
  c.channel.force_perf_buffer = flags.force_perf_buffer;
  c.disable_features = flags.disable_features;
  c.bpf_stats = false;  // nobody scrapes a trace
  runtime::AgentOptions opts = agent_options(c);
  opts.require_all = true;
  opts.filter_tgid = flags.pid;
  opts.filter_comm = flags.comm;
  opts.filter_cgroup = cgroup;
  opts.filter_cgroup_set = !workload->empty();
  opts.filter_failed = flags.failed;
  opts.event_rate_limit = flags.rate_limit;
  opts.event_rate_burst = 0;
  opts.profile_frequency_hz = flags.frequency_hz;
  if (stacks_out->any()) opts.stack_probes = {stacks_out->probe};
  opts.offcpu_min_block_ns = min_block_ns;
  // Probes that only aggregate in the kernel send no records: a token
  // channel and queue instead of the daemon's 8 MiB ring and 16 MiB of batches.
  bool any_events = false;
  for (const auto& n : names) any_events = any_events || !probes::find_probe(n)->columns.empty();
  // Probes whose events come at a process's pace (exec, exit, signal,
  // tcp...) need no storm-sized ring: 1 MiB holds ~4000 exec records, many
  // drain intervals' worth, and libbpf maps the ring twice (so it counts
  // twice in RSS). The high-rate ones (open, syscalls: those behind the rate
  // limit) keep the configured size.
  bool high_rate = false;
  for (const auto& n : names) high_rate = high_rate || probes::find_probe(n)->rate_limited;
  if (!any_events) {
    opts.channel_bytes = 64u << 10;
    opts.queue_batches = 2;
    opts.batch_bytes = 64u << 10;
  } else if (!high_rate) {
    opts.channel_bytes = std::min<size_t>(opts.channel_bytes, 1u << 20);
    opts.queue_batches = std::min<size_t>(opts.queue_batches, 16);
    opts.batch_bytes = std::min<size_t>(opts.batch_bytes, 64u << 10);
  }

  std::span<const std::string_view> columns;
  if (names.size() == 1) columns = probes::find_probe(names.front())->columns;
  TracePrinter printer(
      stdout, flags.output == "json" ? TracePrinter::Format::json : TracePrinter::Format::text,
      columns, flags.count);
  // Events say who they came from (container, pod, unit); the counters and
  // histograms keep cgroup ids, which --by cgroup prints with their paths.
  // Pod names from the API server: in a cluster, or with --kubeconfig.
  auto kube = identity::KubeSource::start({.kubeconfig = flags.kubeconfig});
  if (!kube) return fail(kExitUsage, kube.error());
  if (*kube && !(*kube)->wait_synced(std::chrono::seconds(5)))
    spdlog::warn("the API server has not listed this node's pods yet: pods named by UID for now");
  identity::Resolver resolver({.pods = *kube ? &(*kube)->pods() : nullptr});
  opts.resolver = &resolver;
  core::Registry registry;
  auto agent = runtime::Agent::start(opts, registry, {&printer});
  if (!agent) return fail(kExitFailure, agent.error() + privilege_hint(agent.error()));

  // Stack probes: drained every second into a collector that names the
  // frames at the end.
  std::optional<profile::Symbolizer> symbolizer;
  std::optional<runtime::StackCollector> collector;
  const auto start_unix_ns = static_cast<int64_t>(core::unix_ns());
  const uint64_t start_mono_ns = core::mono_ns();
  if (stacks_out->any()) {
    probes::StackSource* source = (*agent)->stack_source(stacks_out->probe);
    if (!source) return fail(kExitFailure, "probe " + stacks_out->probe + " took no stacks");
    symbolizer.emplace();
    collector.emplace(*source, *symbolizer,
                      runtime::StackCollector::Options{
                          .workload_of = runtime::StackCollector::workload_names(resolver)});
    std::fprintf(stderr, "ksight: sampling stacks (%s)... Ctrl-C to stop\n",
                 stacks_out->probe.c_str());
  }

  // Workload filters: the matching cgroups go into the kernel's set now and
  // at every rescan, so containers that start later are traced too.
  uint64_t next_rescan = 0;
  bool said_none = false;
  auto rescan = [&] {
    if (workload->empty() || core::mono_ns() < next_rescan) return;
    next_rescan = core::mono_ns() + kWorkloadRescanNs;
    auto ids = identity::matching_cgroups(*workload, resolver, runtime::Agent::kMaxFilterCgroups);
    if (auto r = (*agent)->set_cgroup_filter(ids); !r) spdlog::warn("{}", r.error());
    if (ids.empty() && !said_none) {
      std::fprintf(stderr, "ksight: nothing matches %s yet; waiting for it\n",
                   workload->describe().c_str());
      said_none = true;
    }
  };
  rescan();

  if (child) child->release();  // probes are attached: the command may exec now
  // With --log-level info: the moment tracing starts (benchmarks time it).
  spdlog::info("tracing: {} probe(s) attached", names.size());

  // Probes that aggregate in the kernel print histograms and counter tables
  // (at exit and every --interval) instead of, or besides, events.
  struct Aggregate {
    std::string_view histogram;
    std::span<const std::string_view> counters;
    std::string_view by;  // the label --by names, for this probe
  };
  std::vector<Aggregate> aggregates;
  size_t event_probes = 0;
  for (const auto& n : names) {
    const probes::ProbeSpec* spec = probes::find_probe(n);
    event_probes += !spec->columns.empty();
    if (spec->histogram.empty() && spec->counters.empty()) continue;
    if (spec->name == stacks_out->probe) continue;  // its stacks are the output
    Aggregate a{spec->histogram, spec->counters, {}};
    for (const auto& k : spec->by)
      if (k.name == flags.by) a.by = k.label;
    aggregates.push_back(a);
  }
  auto print_histograms = [&] {
    auto snap = registry.collect(core::mono_ns());
    for (const auto& a : aggregates) {
      if (!a.histogram.empty()) print_log2_histograms(stdout, snap, a.histogram, a.by);
      for (auto c : a.counters) print_counter_table(stdout, snap, c, a.by);
    }
  };
  if (!aggregates.empty() && event_probes == 0)
    std::fprintf(stderr, "ksight: tracing %s... Ctrl-C to print the results\n",
                 names.front().c_str());
  uint64_t next_print = interval_ns ? core::mono_ns() + interval_ns : 0;

  const uint64_t deadline = duration_ns ? core::mono_ns() + duration_ns : 0;
  int exit_code = kExitOk;
  uint64_t printed_before = 0;
  for (;;) {
    // A short wait while a command runs (its exit status is returned
    // promptly) or events are being printed (--count stops promptly);
    // otherwise the loop sleeps until the next thing due, at most kIdleWait,
    // so an idle trace makes few wake-ups.
    const uint64_t printed_now = printer.printed();
    const bool busy = child || printed_now != printed_before;
    printed_before = printed_now;
    const uint64_t due_print = next_print && !aggregates.empty() ? next_print : UINT64_MAX;
    int sig =
        wait_for_signal(busy ? kBusyWait
                             : idle_wait(core::mono_ns(),
                                         {deadline ? deadline : UINT64_MAX, due_print}, kIdleWait));
    if (child) {
      // Ctrl-C or SIGTERM goes to the command; we stop when it has gone.
      if (sig) child->signal(sig);
      if (auto code = child->poll()) {
        exit_code = *code;
        break;
      }
    } else if (sig) {
      break;
    }
    if (printer.limit_reached()) break;
    if (printer.output_error() || stdout_reader_gone()) break;
    rescan();
    if (collector) collector->poll(core::mono_ns());
    if (deadline && core::mono_ns() >= deadline) break;
    if (next_print && core::mono_ns() >= next_print && !aggregates.empty()) {
      print_histograms();
      next_print += interval_ns;
    }
  }
  (*agent)->stop();
  // A closed pipe ends the trace like --count does, with status 0 (or the
  // command's): the reader had what it wanted. Any other write error is a
  // failure.
  const int out_err = stdout_reader_gone() ? EPIPE : printer.output_error();
  if (!aggregates.empty() && !out_err) print_histograms();
  bool stacks_written = true;
  if (collector && !out_err) {
    profile::Profile prof = collector->finish(start_unix_ns, core::mono_ns() - start_mono_ns);
    uint64_t samples = 0;
    for (const auto& smp : prof.samples) samples += smp.count;
    stacks_written =
        write_stack_outputs(*stacks_out, prof, stdout, "ksight trace " + stacks_out->probe);
    auto st = collector->stats();
    std::fprintf(
        stderr, "ksight: %llu %s in %zu stacks%s\n", static_cast<unsigned long long>(samples),
        prof.kind == profile::ProfileKind::cpu ? "samples" : "blocks", prof.samples.size(),
        st.dropped_samples
            ? (", " + std::to_string(st.dropped_samples) + " samples past the stack limit").c_str()
            : "");
  }
  std::fflush(stdout);
  // The summary: what was printed, what was lost and why.
  std::string why;
  auto lost = (*agent)->events_lost_by_reason();
  uint64_t lost_total = 0;
  for (size_t r = 0; r < lost.size(); ++r) {
    if (!lost[r]) continue;
    lost_total += lost[r];
    why += (why.empty() ? " (" : ", ") +
           std::string(runtime::to_string(static_cast<runtime::LossReason>(r))) + " " +
           std::to_string(lost[r]);
  }
  if (!why.empty()) why += ")";
  std::fprintf(stderr, "ksight: %llu events printed, %llu lost%s\n",
               static_cast<unsigned long long>(printer.printed()),
               static_cast<unsigned long long>(lost_total), why.c_str());
  if (child && !child->exited()) {
    child->signal(SIGTERM);  // --count, --duration or a closed output ended the trace first
    exit_code = child->wait();
  }
  if (out_err && out_err != EPIPE)
    return fail(kExitFailure, std::string("writing the output: ") + std::strerror(out_err));
  if (!stacks_written && exit_code == kExitOk) exit_code = kExitFailure;
  return exit_code;
}

}  // namespace ksight::cli
