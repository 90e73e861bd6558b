#pragma once
// Stack profiles: what the profile (on-CPU) and offcpu probes drain from the
// kernel, and the symbolized form the encoders (folded text, flame graph SVG,
// pprof) write. No libbpf here: probes fill RawStack, the symbolizer turns it
// into Sample, encoders read Profile.
#include <cstdint>
#include <string>
#include <vector>

namespace ksight::profile {

// One stack as counted in the kernel: a process, a cgroup, and the kernel and
// user instruction pointers of the samples that had exactly these stacks.
struct RawStack {
  uint32_t pid = 0;  // thread group id
  uint64_t cgroup_id = 0;
  std::string comm;
  std::vector<uint64_t> kernel_ips;  // leaf first; empty when none was taken
  std::vector<uint64_t> user_ips;    // leaf first; empty for kernel threads
  uint64_t count = 0;                // samples (cpu) or blocks (offcpu)
  uint64_t value_ns = 0;             // count x period (cpu) or time off the CPU (offcpu)
};

// One symbolized frame. Never a bare address: a frame whose function is
// unknown still names its module and the offset in it.
struct Frame {
  std::string function;        // demangled; empty when no symbol covers the address
  std::string module;          // file path, "[kernel.kallsyms]" or "[module_name]"
  std::string build_id;        // lower-case hex of the ELF build id; empty when none
  uint64_t address = 0;        // the sampled address in the process (or kernel)
  uint64_t module_offset = 0;  // the address relative to the module's load
  bool kernel = false;
  // "function", or "module+0x1f4" (basename of the module) when unknown.
  std::string display() const;
};

struct Sample {
  std::vector<Frame> frames;  // leaf first: the kernel frames, then the user ones
  uint32_t pid = 0;
  uint64_t cgroup_id = 0;
  std::string comm;
  std::string workload;  // pod or unit the cgroup belongs to; empty when unknown
  uint64_t count = 0;
  uint64_t value_ns = 0;
};

enum class ProfileKind { cpu, offcpu };

struct Profile {
  ProfileKind kind = ProfileKind::cpu;
  std::vector<Sample> samples;
  uint64_t period_ns = 0;     // cpu: 1e9 / frequency; offcpu: 0
  int64_t start_unix_ns = 0;  // when sampling started
  uint64_t duration_ns = 0;
};

}  // namespace ksight::profile
