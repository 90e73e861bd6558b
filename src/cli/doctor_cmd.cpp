// ksight doctor: checks the kernel and the host for what ksight needs, and
// says what to do about each missing piece. Exit 0 when ksight can run.
#include <bpf/btf.h>
#include <linux/capability.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bpf/features.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "probes/probe.h"
#include "runtime/cgroup.h"
#include "runtime/privileges.h"

namespace ksight::cli {

namespace {

struct Check {
  std::string name;
  enum { ok, warn, missing } level;
  std::string detail;  // what was found, or what to do
};

uint64_t effective_caps() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

// Whether any cgroup v1 hierarchy is mounted beside v2 (the hybrid layout).
bool cgroup_v1_mounted() {
  std::ifstream f("/proc/self/mounts");
  std::string dev, mount, fstype;
  std::string rest;
  while (f >> dev >> mount >> fstype && std::getline(f, rest))
    if (fstype == "cgroup") return true;
  return false;
}

std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

}  // namespace

int run_doctor() {
  bpf::KernelFeatures k;
  std::vector<Check> checks;
  auto add = [&](std::string name, const bpf::Availability& a, std::string ok_detail,
                 std::string fix, bool required) {
    checks.push_back({std::move(name), a.ok ? Check::ok : (required ? Check::missing : Check::warn),
                      a.ok ? std::move(ok_detail) : a.reason + "; " + fix});
  };
  utsname u{};
  ::uname(&u);
  checks.push_back({"kernel", Check::ok, std::string(u.release) + " " + u.machine});

  uint64_t caps = effective_caps();
  auto has = [&](int cap) { return (caps >> cap) & 1; };
  bool privileged =
      has(21 /* CAP_SYS_ADMIN */) || (has(39 /* CAP_BPF */) && has(38 /* CAP_PERFMON */));
  checks.push_back({"capabilities", privileged ? Check::ok : Check::missing,
                    privileged
                        ? std::string(has(21) ? "CAP_SYS_ADMIN" : "CAP_BPF + CAP_PERFMON") +
                              (has(24) ? ", CAP_SYS_RESOURCE" : "")
                        : "needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run as root, or "
                          "grant them (systemd AmbientCapabilities=, Kubernetes securityContext)"});
  // What this process holds now; `ksight run` keeps less once attached.
  if (auto sets = runtime::read_capabilities()) {
    const runtime::CapMask all = (runtime::CapMask{2} << runtime::last_cap()) - 1;
    auto list = [&](runtime::CapMask m) {
      const runtime::CapMask missing = all & ~m;
      if (!missing) return std::string("all");
      if (__builtin_popcountll(missing) < __builtin_popcountll(m & all))
        return "all but " + runtime::cap_list(missing);
      return runtime::cap_list(m);
    };
    const bool dac = sets->effective & runtime::cap_bit(CAP_DAC_READ_SEARCH);
    checks.push_back({"privileges", Check::ok,
                      "uid " + std::to_string(::getuid()) + ", effective " + list(sets->effective) +
                          ", bounding " + list(sets->bounding) + ", ambient " +
                          list(sets->ambient) + "; after attach ksight run keeps " +
                          (dac ? "CAP_DAC_READ_SEARCH"
                               : "none (no CAP_DAC_READ_SEARCH: cgroups named by walk)") +
                          ", plus CAP_BPF where map reads need it (--keep-capabilities)"});
  }
  add("BTF", k.btf(), "/sys/kernel/btf/vmlinux",
      "needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", true);
  add("ring buffer", k.ringbuf(), "BPF_MAP_TYPE_RINGBUF",
      "ksight falls back to the perf buffer (slower); a 5.8+ kernel has the ring buffer", false);
  add("tp_btf", k.attach(bpf::AttachMethod::tp_btf, "sched/sched_process_exec"),
      "BTF tracepoints load", "probes fall back to raw_tp or tracepoints", false);
  add("raw_tp", k.attach(bpf::AttachMethod::raw_tp, "sched/sched_process_exec"), "raw tracepoints",
      "probes fall back to classic tracepoints", false);
  add("tracefs", k.tracefs(), k.tracefs_dir(),
      "classic tracepoints (the open probe) need tracefs: mount -t tracefs tracefs "
      "/sys/kernel/tracing",
      false);
  add("fentry", k.attach(bpf::AttachMethod::fentry, "do_sys_openat2"), "BPF trampolines load",
      "fentry/fexit variants are skipped (needs 5.5+, BPF trampoline support, no lockdown)", false);
  add("kprobes", k.kprobes(), "kprobe PMU", "kprobe variants are skipped (needs CONFIG_KPROBES=y)",
      false);
  add("BPF stats", k.bpf_stats(), "run counts and run times available",
      "ksight_bpf_program_* metrics read 0 (needs 5.8+ and CAP_SYS_ADMIN)", false);
  const std::string v2 = runtime::cgroup2_mount();
  const bool pure = !cgroup_v1_mounted();
  checks.push_back({"cgroup v2", v2.empty() ? Check::warn : Check::ok,
                    v2.empty()
                        ? "no cgroup2 mount: cgroup ids in events cannot be named"
                        : v2 + (pure ? " (unified)" : " (hybrid: v1 controllers beside it)")});
  std::string lockdown = first_line("/sys/kernel/security/lockdown");
  bool confidential = lockdown.find("[confidentiality]") != std::string::npos;
  checks.push_back({"lockdown", confidential ? Check::missing : Check::ok,
                    lockdown.empty() ? "not enabled"
                    : confidential ? "confidentiality mode forbids reading kernel memory from BPF: "
                                     "boot with lockdown=integrity or none"
                                   : lockdown});

  bool can_run = true;
  for (const auto& c : checks) {
    const char* mark = c.level == Check::ok ? "ok  " : c.level == Check::warn ? "warn" : "FAIL";
    std::printf("%s  %-13s %s\n", mark, c.name.c_str(), c.detail.c_str());
    if (c.level == Check::missing) can_run = false;
  }
  std::printf("\nprobes:\n");
  // What a probe cannot report on this kernel although it loads.
  std::unique_ptr<struct btf, decltype(&btf__free)> vmlinux(btf__load_vmlinux_btf(), btf__free);
  for (const auto& spec : probes::probe_table()) {
    auto choice = bpf::choose_variant(spec.variants, k);
    std::string line = choice.chosen ? "via " + std::string(bpf::to_string(choice.chosen->method))
                                     : "off: " + choice.reason();
    if (choice.chosen) {
      if (auto limits = probes::kernel_limits(spec.name, vmlinux.get()); !limits.empty())
        line += " (limited: " + limits + ")";
    }
    std::printf("  %-8s %s\n", std::string(spec.name).c_str(), line.c_str());
    if (!choice.chosen && spec.default_on) can_run = false;
  }
  std::printf("\n%s\n", can_run ? "ksight can run here."
                                : "ksight cannot run here: fix the FAIL lines above.");
  return can_run ? kExitOk : kExitFailure;
}

}  // namespace ksight::cli
