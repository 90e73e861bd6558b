#include "probes/loaded_object.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>

#include "probes/kernel_maps.h"
#include "probes/rate_limit.h"
#include "runtime/cgroup.h"

namespace ksight::probes {

namespace {

// Per-CPU hash maps of tracing programs are preallocated (bpf/include/
// ksight.bpf.h says why), so each costs max_entries x value size x possible
// CPUs of kernel memory, charged to the agent's memory cgroup. Past this
// budget per map, fewer keys: the declared size up to ~16 CPUs for the
// largest values (docs/probes.md has the table).
constexpr size_t kPercpuHashBudgetBytes = size_t{16} << 20;
constexpr uint32_t kMinPercpuHashEntries = 256;

void size_percpu_hashes(bpf_object* obj) {
  const size_t cpus = possible_cpus();
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__type(map) != BPF_MAP_TYPE_PERCPU_HASH) continue;
    // cgroup_skb programs are not tracing programs: their maps may allocate.
    if (bpf_map__map_flags(map) & BPF_F_NO_PREALLOC) continue;
    const size_t per_key = (bpf_map__value_size(map) + 7) / 8 * 8 * cpus;
    const auto fit = static_cast<uint32_t>(
        std::max<size_t>(kMinPercpuHashEntries, kPercpuHashBudgetBytes / per_key));
    if (fit < bpf_map__max_entries(map)) bpf_map__set_max_entries(map, fit);
  }
}

}  // namespace

std::expected<std::vector<bpf_program*>, std::string> LoadedObject::prepare(
    bpf_object* obj, bpf_map* events, const LoadRequest& req) {
  size_percpu_hashes(obj);
  std::vector<bpf_program*> chosen;
  bpf_program* prog = nullptr;
  // Only the chosen variant's programs are loaded: the others may name hooks
  // this kernel does not have, and would fail verification.
  bpf_object__for_each_program(prog, obj) {
    bool want = req.variant->uses(bpf_program__name(prog));
    bpf_program__set_autoload(prog, want);
    if (want) chosen.push_back(prog);
  }
  size_t wanted = 0;
  for (auto p : req.variant->programs) wanted += !p.empty();
  if (chosen.empty() || chosen.size() != wanted) {
    return std::unexpected("BPF object lacks a program of variant " +
                           std::string(bpf::to_string(req.variant->method)));
  }
  if (int err = bpf_map__reuse_fd(events, req.channel->map_fd())) {
    return std::unexpected(std::string("sharing the event channel: ") + std::strerror(-err));
  }
  // The workload filter's cgroup set: one map the agent owns and keeps
  // current, shared by every object; a one-entry stub where it is off.
  if (bpf_map* set = bpf_object__find_map_by_name(obj, "ksight_cgroup_filter")) {
    if (req.cgroup_filter_fd >= 0) {
      if (int err = bpf_map__reuse_fd(set, req.cgroup_filter_fd)) {
        return std::unexpected(std::string("sharing the cgroup filter: ") + std::strerror(-err));
      }
    } else {
      bpf_map__set_max_entries(set, 1);
    }
  }
  return chosen;
}

namespace {

// cgroup_skb programs attach to a cgroup, not to a hook: the cgroup v2 root,
// so they run for the sockets of every cgroup below it. The link keeps its
// own reference to the cgroup; the directory fd is only needed to attach.
std::expected<bpf_link*, std::string> attach_cgroup_root(bpf_program* prog) {
  std::string root = runtime::cgroup2_mount();
  if (root.empty()) return std::unexpected(std::string("no cgroup v2 hierarchy is mounted"));
  bpf::Fd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return std::unexpected("opening cgroup v2 root " + root + ": " + std::strerror(errno));
  bpf_link* link = bpf_program__attach_cgroup(prog, fd.get());
  if (!link)
    return std::unexpected(std::string("attaching ") + bpf_program__name(prog) + " to " + root +
                           ": " + std::strerror(errno));
  return link;
}

}  // namespace

size_t LoadedObject::prune_cgroups(const std::function<bool(uint64_t)>& exists) const {
  size_t pruned = 0;
  for (const auto& cm : cgroup_maps_) {
    bpf_map* m = map(std::string(cm.name).c_str());
    if (!m) continue;
    const size_t key_size = bpf_map__key_size(m);
    if (cm.cgroup_offset + sizeof(uint64_t) > key_size) continue;
    // Collect first: deleting while walking restarts the walk.
    std::vector<std::byte> keys, key(key_size), next(key_size);
    const void* prev = nullptr;
    while (bpf_map__get_next_key(m, prev, next.data(), key_size) == 0) {
      keys.insert(keys.end(), next.begin(), next.end());
      key = next;
      prev = key.data();
    }
    for (size_t off = 0; off < keys.size(); off += key_size) {
      uint64_t id = 0;
      std::memcpy(&id, keys.data() + off + cm.cgroup_offset, sizeof(id));
      if (id == 0 || exists(id)) continue;  // 0: the overflow key, kept
      if (bpf_map__delete_elem(m, keys.data() + off, key_size, 0) == 0) ++pruned;
    }
  }
  return pruned;
}

std::pair<uint64_t, uint64_t> LoadedObject::rate_limit_ns(const LoadRequest& req) {
  // Shares of the online CPUs, not the possible ones (rate_limit.h).
  auto b = per_cpu_token_bucket(req.rate_limit, req.rate_burst, online_cpus());
  return {b.cost_ns, b.burst_ns};
}

std::expected<void, std::string> LoadedObject::attach_perf_event(bpf_program* prog,
                                                                 uint32_t frequency_hz) {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.freq = 1;
  attr.sample_freq = frequency_hz;
  const int cpus = libbpf_num_possible_cpus();
  size_t attached = 0;
  for (int cpu = 0; cpu < cpus; ++cpu) {
    int fd =
        static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (fd < 0) {
      if (errno == ENODEV) continue;  // a possible CPU that is offline
      return std::unexpected("perf_event_open(cpu-clock) on CPU " + std::to_string(cpu) + ": " +
                             std::strerror(errno));
    }
    // The link owns the perf event fd from here: destroying it closes both.
    bpf_link* link = bpf_program__attach_perf_event(prog, fd);
    if (!link) {
      int err = errno;
      ::close(fd);
      return std::unexpected(std::string("attaching ") + bpf_program__name(prog) + " on CPU " +
                             std::to_string(cpu) + ": " + std::strerror(err));
    }
    links_.emplace_back(link);
    ++attached;
  }
  if (attached == 0) return std::unexpected(std::string("no online CPU to sample"));
  return {};
}

std::expected<void, std::string> LoadedObject::attach(const LoadRequest& req) {
  if (method_ == bpf::AttachMethod::perf_event) {
    for (bpf_program* prog : progs_)
      if (auto r = attach_perf_event(prog, req.sample_frequency_hz); !r) return r;
    return {};
  }
  for (bpf_program* prog : progs_) {
    bpf_link* link = nullptr;
    switch (method_) {
      case bpf::AttachMethod::cgroup_skb: {
        auto l = attach_cgroup_root(prog);
        if (!l) return std::unexpected(l.error());
        link = *l;
        break;
      }
      default:
        link = bpf_program__attach(prog);
        break;
    }
    if (!link) {
      return std::unexpected(std::string("attaching ") + bpf_program__name(prog) + ": " +
                             std::strerror(errno));
    }
    links_.emplace_back(link);
  }
  return {};
}

bpf_map* LoadedObject::map(const char* name) const {
  return obj_ ? bpf_object__find_map_by_name(obj_, name) : nullptr;
}

std::vector<uint64_t> LoadedObject::drops() const {
  return sum_percpu_array(drops_, KSIGHT_LEDGER_SLOTS);
}

bool LoadedObject::set_emit_control(const EmitControl& c) const {
  bpf_map* m = map("ksight_emit_control");
  if (!m) return false;
  ksight_emit_control v{};
  v.period = std::max<uint32_t>(c.period, 1);
  // Kept when a random u32 is below 2^32 / period.
  v.keep_below = v.period <= 1 ? UINT32_MAX : static_cast<uint32_t>((uint64_t{1} << 32) / v.period);
  v.keep_errors = c.keep_errors;
  v.counts_only = c.counts_only;
  const uint32_t zero = 0;
  return bpf_map__update_elem(m, &zero, sizeof zero, &v, sizeof v, 0) == 0;
}

std::expected<void, std::string> LoadedObject::set_attached(bool attached) {
  if (!attached) {
    links_.clear();
    return {};
  }
  if (!links_.empty() || !obj_) return {};
  LoadRequest req;
  req.sample_frequency_hz = sample_frequency_hz_;
  auto r = attach(req);
  if (!r) links_.clear();  // all or nothing
  return r;
}

std::vector<ProgramStats> LoadedObject::program_stats() const {
  std::vector<ProgramStats> out;
  for (bpf_program* prog : progs_) {
    ProgramStats st;
    st.program = bpf_program__name(prog);
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    // run_cnt and run_time_ns count only while BPF stats are enabled
    // (runtime/agent.cpp holds the BPF_ENABLE_STATS fd).
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
      st.run_count = info.run_cnt;
      st.run_time_ns = info.run_time_ns;
    }
    out.push_back(std::move(st));
  }
  return out;
}

namespace {

// The "memlock:" line of a BPF fd's fdinfo: what the kernel charges for the
// map (per-CPU values times the possible CPUs, hash buckets, the ring's pages).
uint64_t fdinfo_memlock(int fd) {
  std::ifstream f("/proc/self/fdinfo/" + std::to_string(fd));
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("memlock:")) return std::strtoull(line.c_str() + 8, nullptr, 10);
  return 0;
}

}  // namespace

ObjectInfo LoadedObject::object_info() const {
  ObjectInfo out;
  for (bpf_program* prog : progs_) {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    ProgramInfo p{.name = bpf_program__name(prog)};
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
      p.xlated_bytes = info.xlated_prog_len;
      p.jited_bytes = info.jited_prog_len;
      p.verified_insns = info.verified_insns;
    }
    out.programs.push_back(std::move(p));
  }
  if (!obj_) return out;
  bpf_map* m = nullptr;
  bpf_object__for_each_map(m, obj_) {
    const int fd = bpf_map__fd(m);
    if (fd < 0) continue;
    const std::string name = bpf_map__name(m);
    uint64_t memlock = fdinfo_memlock(fd);
    const bool ring_unreported = memlock == 0 && bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF;
    if (ring_unreported) memlock = bpf_map__max_entries(m);
    out.maps.push_back({.name = name,
                        .type = static_cast<uint32_t>(bpf_map__type(m)),
                        .key_size = bpf_map__key_size(m),
                        .value_size = bpf_map__value_size(m),
                        .max_entries = bpf_map__max_entries(m),
                        .memlock_bytes = memlock,
                        .memlock_estimated = ring_unreported,
                        // Adopted from the agent (prepare()): one for all probes.
                        .shared = name == "ksight_events" ||
                                  (name == "ksight_cgroup_filter" && cgroup_filter_shared_)});
  }
  return out;
}

}  // namespace ksight::probes
