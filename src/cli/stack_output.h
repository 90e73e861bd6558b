#pragma once
// What `ksight trace profile|offcpu` writes of the stacks it took: folded
// text on stdout (-f folded, -o folded), a flame graph SVG (--svg FILE), a
// gzipped pprof (-o pprof FILE, --pprof FILE). Without any of them, profile
// prints its sample tables as before and offcpu prints folded stacks.
#include <cstdio>
#include <expected>
#include <span>
#include <string>

#include "cli/commands.h"
#include "profile/stack_profile.h"

namespace ksight::cli {

struct StackOutputs {
  std::string probe;  // the one stack probe traced; empty: no stack output
  bool folded = false;
  std::string svg_file;
  std::string pprof_file;
  bool any() const { return !probe.empty(); }
};

// Checks the stack flags against the probes named; one line on misuse.
std::expected<StackOutputs, std::string> stack_outputs(const TraceFlags& flags,
                                                       std::span<const std::string> probes);

// Writes each requested output; false (with one line on stderr) when a file
// cannot be written. `what` names the profile for the SVG's title.
bool write_stack_outputs(const StackOutputs& outputs, const profile::Profile& profile,
                         std::FILE* out, const std::string& what);

}  // namespace ksight::cli
