// Capability sets: reading, naming, parsing, the runtime probe and the metric.
// The drop itself is in privilege_drop.cpp.
#include "runtime/privileges.h"

#include <bpf/bpf.h>
#include <spdlog/spdlog.h>
#include <sys/capability.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>

namespace ksight::runtime {

namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct CapFree {
  void operator()(cap_t c) const { cap_free(c); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

CapMask effective_now() {
  CapPtr caps(cap_get_proc());
  CapMask out = 0;
  if (!caps) return out;
  for (int c = 0; c <= std::min(last_cap(), 63); ++c) {
    cap_flag_value_t v = CAP_CLEAR;
    if (cap_get_flag(caps.get(), c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET) out |= cap_bit(c);
  }
  return out;
}

}  // namespace

std::expected<CapabilitySets, std::string> read_capabilities(const std::string& status_path) {
  std::ifstream f(status_path);
  if (!f) return std::unexpected("cannot read " + status_path);
  CapabilitySets s;
  int found = 0;
  std::string line;
  while (std::getline(f, line)) {
    CapMask* into = nullptr;
    if (line.rfind("CapInh:", 0) == 0) into = &s.inheritable;
    if (line.rfind("CapPrm:", 0) == 0) into = &s.permitted;
    if (line.rfind("CapEff:", 0) == 0) into = &s.effective;
    if (line.rfind("CapBnd:", 0) == 0) into = &s.bounding;
    if (line.rfind("CapAmb:", 0) == 0) into = &s.ambient;
    if (!into) continue;
    *into = std::stoull(line.substr(7), nullptr, 16);
    ++found;
  }
  if (found < 5) return std::unexpected("no capability lines in " + status_path);
  return s;
}

int last_cap() {
  std::ifstream f("/proc/sys/kernel/cap_last_cap");
  int n = -1;
  if (f >> n && n >= 0) return n;
  return CAP_LAST_CAP;
}

std::string cap_name(int cap) {
  char* name = cap_to_name(static_cast<cap_value_t>(cap));
  if (!name) {
    std::string numbered = "CAP_";  // appended: see below
    numbered += std::to_string(cap);
    return numbered;
  }
  std::string out = upper(name);
  cap_free(name);
  // libcap names capabilities newer than itself by number ("63").
  if (out.rfind("CAP_", 0) == 0) return out;
  // Appended, not "CAP_" + out: g++ 12 at -O3 flags that operator+'s insert
  // at the front (-Werror=restrict, GCC bug 105329, a false positive).
  std::string prefixed = "CAP_";
  prefixed += out;
  return prefixed;
}

std::string cap_list(CapMask caps) {
  std::string out;
  for (int c = 0; c < 64; ++c) {
    if (!(caps & cap_bit(c))) continue;
    if (!out.empty()) out += ',';
    out += cap_name(c);
  }
  return out.empty() ? "none" : out;
}

std::expected<KeepCapabilities, std::string> parse_keep_capabilities(
    const std::vector<std::string>& items) {
  std::vector<std::string> names;
  for (const auto& item : items) {
    std::stringstream ss(item);
    std::string n;
    while (std::getline(ss, n, ',')) {
      n.erase(0, n.find_first_not_of(" \t"));
      n.erase(n.find_last_not_of(" \t") + 1);
      if (!n.empty()) names.push_back(lower(n));
    }
  }
  KeepCapabilities k;
  if (names.size() == 1 && (names[0] == "auto" || names[0] == "all" || names[0] == "none")) {
    k.mode = names[0] == "auto"  ? KeepCapabilities::Mode::automatic
             : names[0] == "all" ? KeepCapabilities::Mode::all
                                 : KeepCapabilities::Mode::list;
    return k;
  }
  if (names.empty()) return std::unexpected(std::string("an empty list (say none)"));
  k.mode = KeepCapabilities::Mode::list;
  for (const auto& n : names) {
    if (n == "auto" || n == "all" || n == "none")
      return std::unexpected("'" + n + "' stands alone, not in a list");
    cap_value_t v = 0;
    std::string full = n.rfind("cap_", 0) == 0 ? n : "cap_" + n;
    if (cap_from_name(full.c_str(), &v) != 0 || v < 0 || v > 63)
      return std::unexpected("unknown capability '" + n + "' (e.g. CAP_BPF, CAP_DAC_READ_SEARCH)");
    k.caps |= cap_bit(v);
  }
  return k;
}

CapMask runtime_capabilities(int bpf_fd) {
  const CapMask held = effective_now();
  CapMask keep = held & cap_bit(CAP_DAC_READ_SEARCH);
  if (bpf_fd < 0) return keep;
  // Lower the effective set of this thread to `keep` (permitted unchanged, so
  // it can be raised again), ask the kernel about a map we hold, restore.
  CapPtr saved(cap_get_proc());
  CapPtr trial(cap_dup(saved.get()));
  if (!saved || !trial) return keep;
  cap_clear_flag(trial.get(), CAP_EFFECTIVE);
  for (int c = 0; c < 64; ++c) {
    cap_value_t v = c;
    if (keep & cap_bit(c)) cap_set_flag(trial.get(), CAP_EFFECTIVE, 1, &v, CAP_SET);
  }
  if (cap_set_proc(trial.get()) != 0) return keep;
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  const int r = bpf_obj_get_info_by_fd(bpf_fd, &info, &len);
  const int err = errno;
  cap_set_proc(saved.get());
  if (r != 0 && (err == EPERM || err == EACCES)) {
    keep |= held & (last_cap() >= CAP_BPF ? cap_bit(CAP_BPF) : cap_bit(CAP_SYS_ADMIN));
  }
  return keep;
}

std::expected<void, std::string> drop_after_attach(const std::vector<std::string>& keep,
                                                   const std::string& user, int bpf_fd,
                                                   CapMask also_auto) {
  auto spec = parse_keep_capabilities(keep);
  if (!spec) return std::unexpected(spec.error());
  DropRequest req{.user = user};
  switch (spec->mode) {
    case KeepCapabilities::Mode::all: {
      if (user.empty()) {
        spdlog::info("privileges: keeping every capability (keep_capabilities: all)");
        return {};
      }
      auto now = read_capabilities("/proc/thread-self/status");
      req.keep = now ? now->permitted : 0;
      break;
    }
    case KeepCapabilities::Mode::automatic:
      req.keep = runtime_capabilities(bpf_fd);
      if (auto now = read_capabilities("/proc/thread-self/status"))
        req.keep |= also_auto & now->permitted;
      break;
    case KeepCapabilities::Mode::list:
      req.keep = spec->caps;
      break;
  }
  // An explicit list that leaves out what this kernel needs for map reads:
  // the agent runs, blind to every map (histograms, per-cgroup counters,
  // BPF stats). Say so once.
  if (spec->mode == KeepCapabilities::Mode::list) {
    const CapMask bpf_caps = cap_bit(CAP_BPF) | cap_bit(CAP_SYS_ADMIN);
    const CapMask needed = runtime_capabilities(bpf_fd) & bpf_caps;
    if (needed && !(req.keep & needed)) {
      spdlog::warn(
          "privileges: this kernel refuses bpf() on held file descriptors without {} "
          "(kernel.unprivileged_bpf_disabled, kernels before 5.19): BPF maps and run-time "
          "stats will not be read; keep it with --keep-capabilities auto",
          cap_list(needed));
    }
  }
  auto r = drop_privileges(req);
  if (!r) return std::unexpected(r.error());
  spdlog::info("privileges: all probes attached; keeping {} (bounding set: {}), uid {} gid {}",
               cap_list(r->sets.effective),
               r->bounding_dropped ? cap_list(r->sets.bounding)
                                   : "unchanged, no CAP_SETPCAP: " + cap_list(r->sets.bounding),
               r->uid, r->gid);
  if (req.keep & ~r->sets.effective)
    spdlog::warn("privileges: asked to keep {}, which the process did not hold",
                 cap_list(req.keep & ~r->sets.effective));
  return {};
}

void publish_capabilities(core::Registry& registry) {
  auto family = registry.add(
      {.name = "ksight_capabilities",
       .help = "1 for each capability the agent holds, by set (effective, permitted, bounding, "
               "ambient). After attach ksight run keeps only what --keep-capabilities says.",
       .kind = core::MetricKind::gauge,
       .label_names = {"set", "capability"},
       .expires = false});
  registry.add_refresher([family](core::Registry::Writer& w) {
    auto sets = read_capabilities();
    if (!sets) return;
    const std::pair<std::string_view, CapMask> by_set[] = {{"effective", sets->effective},
                                                           {"permitted", sets->permitted},
                                                           {"bounding", sets->bounding},
                                                           {"ambient", sets->ambient}};
    for (const auto& [set, mask] : by_set) {
      for (int c = 0; c < 64; ++c) {
        if (mask & cap_bit(c)) w.set(family, {set, cap_name(c)}, 1);
      }
    }
  });
}

}  // namespace ksight::runtime
