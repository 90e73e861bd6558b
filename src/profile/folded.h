#pragma once
// Brendan Gregg's folded stacks, the text flamegraph.pl, inferno and
// speedscope read: one line per distinct stack, root first, frames joined by
// ';', then a space and the stack's weight:
//   comm;main;run;hot_loop;entry_SYSCALL_64_[k];do_syscall_64_[k] 42
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profile/stack_profile.h"

namespace ksight::profile {

// How the process frame (the root of each stack, or the one above the
// workload frame) names the process.
enum class ProcessFrame {
  comm,            // "nginx": every process of that name merged, like libbpf-tools -f
  comm_dash_pid,   // "nginx-4242", perf script's and inferno's convention
  comm_paren_pid,  // "nginx (4242)"
};

struct FoldedOptions {
  // Kernel frames end in "_[k]" (bpftrace, perf script and stackcollapse-perf
  // --kernel), which flamegraph.pl --colors=java/perl paint apart.
  bool kernel_suffix = true;
  ProcessFrame process_frame = ProcessFrame::comm;
  // A root frame per workload ("pod;comm;..."), for samples whose workload is
  // known; the others start at the process frame.
  bool workload_root = false;
};

// The profile as folded stacks: identical stacks merged, lines sorted
// (byte order), each ending in '\n'. The weight is the sample count for a cpu
// profile and the microseconds off the CPU for an offcpu one (libbpf-tools
// offcputime -f); stacks that weigh 0 are left out. Frame names are made
// safe for the format: ';' becomes ':', control characters '?', bytes that
// are not UTF-8 U+FFFD, and a name ending in " <digits>" gets '_' for that
// space, so no name can add a frame, a line or a weight.
std::string folded(const Profile& profile, const FoldedOptions& options = {});

// One frame name as folded() writes it (without the kernel suffix).
std::string folded_frame_name(std::string_view name);

using FoldedStack = std::pair<std::vector<std::string>, uint64_t>;

// Reads folded text back: frames root first and the weight, one entry per
// line in input order (not merged). Lines without a weight after the last
// space, or with an empty stack, are skipped, as flamegraph.pl skips them;
// "\r\n" line ends are accepted.
std::vector<FoldedStack> parse_folded(std::string_view text);

}  // namespace ksight::profile
