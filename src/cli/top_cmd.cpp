// ksight top: a live table per process or container, refreshed every
// interval; `q` quits, c/e/s/o/t/b/r pick the sort column. When stdout is not
// a terminal it prints a plain table per interval instead (for logs, pipes
// and tests), until --duration, --iterations or a signal.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/top_model.h"
#include "config/config.h"
#include "config/units.h"
#include "core/clock.h"
#include "identity/kube_source.h"
#include "identity/resolver.h"
#include "probes/probe.h"
#include "runtime/agent.h"
#include "runtime/cgroup.h"

namespace ksight::cli {

namespace {

// The terminal in the mode top needs (no line buffering, no echo, the
// alternate screen, no cursor) for as long as this lives.
class RawTerminal {
 public:
  RawTerminal() {
    if (::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      input_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    std::fputs("\x1b[?1049h\x1b[?25l", stdout);
  }
  ~RawTerminal() {
    std::fputs("\x1b[?25h\x1b[?1049l", stdout);
    std::fflush(stdout);
    if (input_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  // A key pressed within `timeout`, if any.
  std::optional<char> key(std::chrono::milliseconds timeout) const {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (!input_ || ::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char c;
    if (::read(STDIN_FILENO, &c, 1) == 1) return c;
    return std::nullopt;
  }
  static size_t rows() {
    winsize ws{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4) return ws.ws_row - 4;
    return 20;
  }

 private:
  termios saved_{};
  bool input_ = false;
};

std::optional<TopColumn> sort_key(char c) {
  switch (c) {
    case 'c':
      return TopColumn::cpu;
    case 'e':
      return TopColumn::execs;
    case 's':
      return TopColumn::syscalls;
    case 'o':
      return TopColumn::opens;
    case 't':
      return TopColumn::tcp;
    case 'b':
      return TopColumn::bytes;
    case 'r':
      return TopColumn::retrans;
    default:
      return std::nullopt;
  }
}

std::string now_hms() {
  std::time_t t = std::time(nullptr);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%H:%M:%S", std::localtime(&t));
  return buf;
}

}  // namespace

int run_top(const TopFlags& flags) {
  auto sort = top_column_from_string(flags.sort);
  if (!sort)
    return fail(kExitUsage,
                "--sort: expected cpu, execs, syscalls, opens, tcp, bytes or "
                "retrans, got '" +
                    flags.sort + "'");
  const auto group_by = top_group_from_string(flags.by);
  if (!group_by)
    return fail(kExitUsage, "--by: expected process, container, pod, namespace or unit, got '" +
                                flags.by + "'");
  auto interval = config::parse_duration_ns(flags.interval);
  if (!interval || *interval < 100'000'000)
    return fail(kExitUsage,
                "--interval: expected a duration of at least 100ms, got '" + flags.interval + "'");
  uint64_t duration_ns = 0;
  if (!flags.duration.empty()) {
    auto d = config::parse_duration_ns(flags.duration);
    if (!d) return fail(kExitUsage, "--duration: " + d.error());
    duration_ns = *d;
  }
  const TopGroup group = *group_by;

  setup_logging(flags.log_level);
  block_stop_signals();

  // What top shows, from the probes this kernel has: those it lacks show 0.
  config::Config c = config::default_config();
  c.probes.clear();
  for (const char* p : {"exec", "open", "syscalls", "profile", "tcp", "tcpretrans"})
    if (probes::find_probe(p)) c.probes.push_back(p);
  c.disable_features = flags.disable_features;
  c.bpf_stats = false;
  runtime::AgentOptions opts = agent_options(c);
  opts.per_process = group == TopGroup::process;
  opts.event_rate_limit = 0;  // counts come from events here: keep them all
  TopModel model(group, opts.profile_frequency_hz);
  core::Registry registry;
  auto agent = runtime::Agent::start(opts, registry, {&model});
  if (!agent) return fail(kExitFailure, agent.error() + privilege_hint(agent.error()));

  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  std::optional<RawTerminal> term;
  if (tty) term.emplace();
  std::string off;
  for (const auto& st : (*agent)->status())
    if (!st.up) off += (off.empty() ? "" : ", ") + st.name;

  std::map<uint64_t, std::string> cgroups;
  // Pod names from the API server when in a cluster; pod UIDs otherwise.
  auto kube = identity::KubeSource::start({});
  if (!kube) spdlog::warn("{}", kube.error());
  const identity::PodStore* pods = kube && *kube ? &(*kube)->pods() : nullptr;
  identity::Resolver resolver({.pods = pods});
  auto cgroup_name = [&](uint64_t id) -> std::string {
    if (group == TopGroup::container) {
      auto it = cgroups.find(id);
      return it != cgroups.end() ? it->second : "(gone)";
    }
    auto who = resolver.resolve(id);
    auto value = [&](identity::Label l) { return who->values[static_cast<size_t>(l)]; };
    if (group == TopGroup::namespace_) {
      return who->ns.empty() ? "(not in a pod)" : who->ns;
    }
    if (group == TopGroup::pod) {
      if (value(identity::Label::pod).empty()) return "(not in a pod)";
      return who->ns.empty() ? value(identity::Label::pod) : who->ns + "/" + who->pod;
    }
    // By unit: containers outside any unit count under their own name.
    std::string unit = value(identity::Label::unit);
    if (unit.empty()) unit = "container " + value(identity::Label::container);
    return unit;
  };
  const uint64_t start = core::mono_ns();
  uint64_t last = start, next = start + *interval;
  uint64_t iterations = 0;
  std::vector<TopRow> rows;
  auto draw = [&] {
    std::string header = "ksight top - " + now_hms() + " - by " + flags.by + ", sorted by " +
                         std::string(to_string(*sort)) + ", every " + flags.interval +
                         (off.empty() ? "" : " - off here: " + off) + "\n";
    if (tty)
      header += "q quit   sort: c cpu  e execs  s syscalls  o opens  t tcp  b bytes  r retrans\n";
    std::string table =
        render_top(rows, group, *sort, tty ? RawTerminal::rows() : flags.rows, header + "\n");
    if (tty) std::fputs("\x1b[H\x1b[2J", stdout);
    std::fputs(table.c_str(), stdout);
    if (!tty) std::fputc('\n', stdout);
    std::fflush(stdout);
  };
  if (tty) draw();
  for (;;) {
    if (wait_for_signal(std::chrono::milliseconds(tty ? 0 : 50))) break;
    if (term) {
      auto k = term->key(std::chrono::milliseconds(50));
      if (k == 'q' || k == 'Q') break;
      if (k) {
        if (auto s = sort_key(*k)) {
          sort = s;
          draw();
        }
      }
    }
    const uint64_t now = core::mono_ns();
    if (duration_ns && now - start >= duration_ns) break;
    if (now < next) continue;
    if (group == TopGroup::container) cgroups = runtime::cgroup_paths();
    rows = model.tick(registry.collect(now), static_cast<double>(now - last) / 1e9, cgroup_name);
    last = now;
    next = now + *interval;
    draw();
    if (flags.iterations && ++iterations >= flags.iterations) break;
  }
  term.reset();
  (*agent)->stop();
  return kExitOk;
}

}  // namespace ksight::cli
