#include "bpf/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpf/handles.h"

namespace ksight::bpf {

namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

Availability yes() {
  return {true, {}};
}
Availability no(std::string why) {
  return {false, std::move(why)};
}

// "sched/sched_process_exec" -> "sched_process_exec"
std::string_view event_name(std::string_view target) {
  auto slash = target.find('/');
  return slash == std::string_view::npos ? target : target.substr(slash + 1);
}

}  // namespace

KernelFeatures::KernelFeatures(std::set<std::string> disabled) : disabled_(std::move(disabled)) {}

KernelFeatures::~KernelFeatures() {
  btf__free(vmlinux_);
}

Availability KernelFeatures::btf() {
  if (!btf_loaded_) {
    btf_loaded_ = true;
    vmlinux_ = btf__load_vmlinux_btf();
    if (!vmlinux_) {
      btf_error_ = std::string("kernel BTF not readable (") + std::strerror(errno) +
                   "): needs CONFIG_DEBUG_INFO_BTF and /sys/kernel/btf/vmlinux";
      vmlinux_ = nullptr;
    }
  }
  return vmlinux_ ? yes() : no(btf_error_);
}

void KernelFeatures::release_btf() {
  btf__free(vmlinux_);
  vmlinux_ = nullptr;
  btf_loaded_ = false;
}

Availability KernelFeatures::ringbuf() {
  if (disabled_.count("ringbuf")) return no("disabled by configuration");
  auto [it, fresh] = misc_.try_emplace("ringbuf");
  if (fresh) {
    int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
    it->second = r == 1 ? yes()
                        : no(r == 0 ? "kernel has no BPF_MAP_TYPE_RINGBUF (needs 5.8)"
                                    : std::string("probe failed: ") + std::strerror(-r));
  }
  return it->second;
}

Availability KernelFeatures::bpf_stats() {
  auto [it, fresh] = misc_.try_emplace("bpf_stats");
  if (fresh) {
    Fd fd(bpf_enable_stats(BPF_STATS_RUN_TIME));
    it->second = fd ? yes() : no(std::string("BPF_ENABLE_STATS: ") + std::strerror(errno));
  }
  return it->second;
}

const std::string& KernelFeatures::tracefs_dir() {
  if (!tracefs_checked_) {
    tracefs_checked_ = true;
    for (const char* dir : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
      if (exists(std::string(dir) + "/events")) {
        tracefs_dir_ = dir;
        return tracefs_dir_;
      }
    }
    // Not mounted: mount it where libbpf looks first. Needs CAP_SYS_ADMIN.
    if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
        exists("/sys/kernel/tracing/events")) {
      tracefs_dir_ = "/sys/kernel/tracing";
    }
  }
  return tracefs_dir_;
}

Availability KernelFeatures::tracefs() {
  return tracefs_dir().empty()
             ? no("tracefs is not mounted and mounting it at /sys/kernel/tracing failed")
             : yes();
}

Availability KernelFeatures::kprobes() {
  if (exists("/sys/bus/event_source/devices/kprobe/type")) return yes();
  if (!tracefs_dir().empty() && exists(tracefs_dir() + "/kprobe_events")) return yes();
  return no("kernel has no kprobes (CONFIG_KPROBES off: no kprobe PMU, no kprobe_events)");
}

Availability KernelFeatures::attach(AttachMethod method, std::string_view target) {
  if (disabled_.count(std::string(to_string(method)))) return no("disabled by configuration");
  auto key = std::make_pair(method, std::string(target));
  auto it = cache_.find(key);
  if (it == cache_.end()) it = cache_.emplace(key, probe_attach(method, target)).first;
  return it->second;
}

// Loads a two-instruction BPF_PROG_TYPE_TRACING program against `btf_id`:
// the only reliable test, since a kernel can have BTF for a hook and still
// refuse the program (lockdown, missing trampoline support, an LSM).
Availability KernelFeatures::load_tracing_prog(int attach_type, int btf_id, std::string_view what) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts,
              .expected_attach_type = static_cast<bpf_attach_type>(attach_type),
              .attach_btf_id = static_cast<__u32>(btf_id));
  Fd fd(bpf_prog_load(BPF_PROG_TYPE_TRACING, "ksight_probe", "GPL", insns, 2, &opts));
  if (!fd) return no(std::string(what) + " program load failed: " + std::strerror(errno));
  return yes();
}

Availability KernelFeatures::probe_attach(AttachMethod method, std::string_view target) {
  const std::string name(event_name(target));
  switch (method) {
    case AttachMethod::tp_btf: {
      if (auto b = btf(); !b.ok) return b;
      int id = btf__find_by_name_kind(vmlinux_, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF);
      if (id < 0) return no("no BTF for tracepoint " + name);
      return load_tracing_prog(BPF_TRACE_RAW_TP, id, "tp_btf");
    }
    case AttachMethod::raw_tp: {
      if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, nullptr) != 1)
        return no("kernel has no raw tracepoint programs (needs 4.17)");
      // Without BTF the attach itself will tell; with it, check the name.
      if (btf().ok &&
          btf__find_by_name_kind(vmlinux_, ("btf_trace_" + name).c_str(), BTF_KIND_TYPEDEF) < 0)
        return no("kernel has no tracepoint " + name);
      return yes();
    }
    case AttachMethod::tracepoint: {
      if (auto t = tracefs(); !t.ok) return t;
      if (!exists(tracefs_dir() + "/events/" + std::string(target) + "/id"))
        return no("no tracepoint " + std::string(target) + " in " + tracefs_dir() + "/events");
      return yes();
    }
    case AttachMethod::fentry: {
      if (auto b = btf(); !b.ok) return b;
      int id = btf__find_by_name_kind(vmlinux_, name.c_str(), BTF_KIND_FUNC);
      if (id < 0) return no("no BTF for kernel function " + name);
      return load_tracing_prog(BPF_TRACE_FENTRY, id, "fentry");
    }
    case AttachMethod::kprobe:
      return kprobes();
    case AttachMethod::perf_event: {
      perf_event_attr attr{};
      attr.type = PERF_TYPE_SOFTWARE;
      attr.size = sizeof(attr);
      attr.config = PERF_COUNT_SW_CPU_CLOCK;
      attr.sample_freq = 1;
      attr.freq = 1;
      Fd fd(static_cast<int>(
          ::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
      if (!fd) return no(std::string("perf_event_open(cpu-clock): ") + std::strerror(errno));
      return yes();
    }
    case AttachMethod::cgroup_skb: {
      if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, nullptr) != 1)
        return no("kernel has no cgroup_skb programs");
      return yes();
    }
  }
  return no("unknown attach method");
}

}  // namespace ksight::bpf
