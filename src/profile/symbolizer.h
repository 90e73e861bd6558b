#pragma once
// Turns the raw stacks the profile and offcpu probes drain into named frames:
// kernel addresses through /proc/kallsyms, user addresses through the
// process's mappings and the ELF symbol tables of the files they map.
//
// Processes are remembered when first seen (the exec event), mappings and
// symbol tables both, so a process that exits before the profile is drained
// still gets names. Both caches are bounded; the counts in Stats say how well
// they do. No libbpf here.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "profile/stack_profile.h"

namespace ksight::profile {

// The module of user addresses that fall in no mapping of their process.
inline constexpr std::string_view kUnknownModule = "[unknown]";
// The module of anonymous executable mappings (JIT code).
inline constexpr std::string_view kAnonymousModule = "[anon]";

class Symbolizer {
 public:
  struct Options {
    std::string proc_root = "/proc";
    std::string kallsyms_path = "/proc/kallsyms";
    std::string modules_path = "/proc/modules";
    size_t max_processes = 4096;
    // Files whose symbols stay cached with no process to hold them (libc is
    // parsed once for every process that maps it), by count and by bytes.
    // A remembered process keeps the symbols of its own files alive beyond
    // these bounds until it is evicted itself.
    size_t max_files = 256;
    size_t max_file_bytes = 128u << 20;
    // How often /proc/modules is compared with what kallsyms was read with.
    std::chrono::milliseconds module_check_interval{1000};
    // How often a cached process's mappings may be re-read when an address
    // falls in none of them (a library loaded after it was remembered).
    std::chrono::milliseconds maps_refresh_interval{1000};
  };

  struct Stats {
    uint64_t processes_remembered = 0;  // remember_process calls that captured mappings
    uint64_t process_hits = 0;          // symbolize_user found the process cached
    uint64_t process_misses = 0;        // ... did not, and read /proc/PID/maps then
    uint64_t processes_not_found = 0;   // neither cached nor readable in /proc
    uint64_t process_evictions = 0;
    uint64_t maps_refreshes = 0;  // cached mappings re-read for an address in none
    uint64_t file_hits = 0;       // symbol tables found in the file cache
    uint64_t file_misses = 0;     // ... parsed
    uint64_t file_errors = 0;     // files that could not be opened or are not ELF
    uint64_t file_evictions = 0;
    uint64_t kernel_symbol_loads = 0;  // kallsyms read (first use, module changes)
    uint64_t frames = 0;
    uint64_t frames_unknown = 0;  // frames without a function name
    size_t processes_cached = 0;
    size_t files_cached = 0;
    size_t file_cache_bytes = 0;
  };

  // Opens /proc/kallsyms now: its addresses show according to the
  // credentials of whoever opened it, so construct before dropping
  // CAP_SYSLOG and the symbolizer keeps reading it through that descriptor.
  // (Two constructors rather than `Options options = {}`: g++ rejects a
  // default argument of a nested struct with member initializers.)
  Symbolizer();
  explicit Symbolizer(Options options);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Captures `pid`'s executable mappings and the symbols of the files they
  // map, now, replacing what was remembered of that pid. False when the
  // process is gone (or has no executable mappings: a kernel thread).
  bool remember_process(uint32_t pid);
  void forget_process(uint32_t pid);

  // One frame per address, in order. Every address is looked up as given.
  // Kernel frames: module "[kernel.kallsyms]" or the "[module]" of the
  // symbol; module_offset is the raw kernel address (kallsyms addresses are
  // already where the kernel runs, so no load base applies).
  std::vector<Frame> symbolize_kernel(std::span<const uint64_t> ips);
  // User frames: module is the file path as the process sees it, "[vdso]",
  // "[anon]", or "[unknown]" for an address in no mapping; module_offset is
  // the ELF virtual address for files (what addr2line and pprof take), the
  // offset from the mapping's start otherwise, the address itself when
  // unknown. A pid never remembered is looked up in /proc now.
  std::vector<Frame> symbolize_user(uint32_t pid, std::span<const uint64_t> ips);
  // Frames leaf first, the kernel ones then the user ones, with the stack's
  // pid, cgroup, comm, count and value. Every address but each stack's leaf
  // is a return address, so its name is looked up at address - 1 (the call
  // instruction): a call that ends a function must not name the next one.
  Sample symbolize(const RawStack& stack);

  Stats stats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ksight::profile
