#include "probes/loaded_object.h"

#include <unistd.h>

namespace ksight::probes {

std::expected<bpf_program*, std::string> LoadedObject::prepare(bpf_object* obj, bpf_map* events,
                                                                const LoadRequest& req) {
  bpf_program* chosen = nullptr;
  bpf_program* prog = nullptr;
  // Only the chosen variant is loaded: the others may name hooks this kernel
  // does not have, and would fail verification.
  bpf_object__for_each_program(prog, obj) {
    bool want = req.variant->program == bpf_program__name(prog);
    bpf_program__set_autoload(prog, want);
    if (want) chosen = prog;
  }
  if (!chosen) {
    return std::unexpected("BPF object has no program " + std::string(req.variant->program));
  }
  if (int err = bpf_map__reuse_fd(events, req.channel->map_fd())) {
    return std::unexpected(std::string("sharing the event channel: ") + std::strerror(-err));
  }
  return chosen;
}

std::vector<uint64_t> LoadedObject::drops() const {
  std::vector<uint64_t> out(KSIGHT_DROP_REASONS, 0);
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return out;
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t reason = 0; reason < KSIGHT_DROP_REASONS; ++reason) {
    if (bpf_map__lookup_elem(drops_, &reason, sizeof(reason), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) == 0) {
      for (auto v : per_cpu) out[reason] += v;
    }
  }
  return out;
}

ProgramStats LoadedObject::program_stats() const {
  ProgramStats st;
  st.program = bpf_program__name(prog_);
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  // run_cnt and run_time_ns count only while BPF stats are enabled
  // (runtime/agent.cpp holds the BPF_ENABLE_STATS fd).
  if (bpf_obj_get_info_by_fd(bpf_program__fd(prog_), &info, &len) == 0) {
    st.run_count = info.run_cnt;
    st.run_time_ns = info.run_time_ns;
  }
  return st;
}

}  // namespace ksight::probes
