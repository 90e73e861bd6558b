#include "cli/stack_output.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "profile/flamegraph_svg.h"
#include "profile/folded.h"
#include "profile/pprof.h"

namespace ksight::cli {

namespace {

bool is_stack_probe(std::string_view name) {
  return name == "profile" || name == "offcpu";
}

bool write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (f) return true;
  std::fprintf(stderr, "ksight: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
  return false;
}

}  // namespace

std::expected<StackOutputs, std::string> stack_outputs(const TraceFlags& flags,
                                                       std::span<const std::string> probes) {
  StackOutputs o;
  o.folded = flags.stack_format == "folded" || flags.output == "folded";
  o.svg_file = flags.svg_file;
  o.pprof_file = flags.pprof_file;
  if (flags.output == "pprof" && o.pprof_file.empty())
    return std::unexpected("-o pprof: name the file, as in -o pprof cpu.pb.gz");
  std::string stack_probe;
  size_t stack_probes = 0;
  for (const auto& p : probes)
    if (is_stack_probe(p)) {
      ++stack_probes;
      stack_probe = p;
    }
  const bool wanted = o.folded || !o.svg_file.empty() || !o.pprof_file.empty();
  if (wanted && stack_probes == 0)
    return std::unexpected(
        "-f folded, -o folded|pprof, --svg and --pprof need a stack probe: profile or offcpu");
  if (stack_probes > 1)
    return std::unexpected("profile and offcpu take stacks: trace one of them at a time");
  if (stack_probes && probes.size() > 1 && wanted)
    return std::unexpected("stack outputs take " + stack_probe +
                           " alone: trace other probes apart");
  if (!flags.min_block.empty() && stack_probe != "offcpu")
    return std::unexpected("--min-block is for the offcpu probe");
  // offcpu has nothing to print but its stacks.
  if (stack_probe == "offcpu" && !wanted) o.folded = true;
  if (stack_probe == "profile" && !wanted) return StackOutputs{};
  o.probe = stack_probe;
  return o;
}

bool write_stack_outputs(const StackOutputs& outputs, const profile::Profile& profile,
                         std::FILE* out, const std::string& what) {
  bool ok = true;
  if (outputs.folded) {
    std::string text = profile::folded(profile, {});
    ok = std::fwrite(text.data(), 1, text.size(), out) == text.size() && std::fflush(out) == 0;
  }
  if (!outputs.svg_file.empty()) {
    profile::SvgOptions svg;
    svg.title = profile.kind == profile::ProfileKind::cpu ? "CPU flame graph" : "Off-CPU time";
    svg.subtitle = what;
    svg.count_name = profile.kind == profile::ProfileKind::cpu ? "samples" : "us";
    ok = write_file(outputs.svg_file, profile::flamegraph_svg(profile, svg)) && ok;
  }
  if (!outputs.pprof_file.empty())
    ok = write_file(outputs.pprof_file, profile::pprof_gzip(profile)) && ok;
  return ok;
}

}  // namespace ksight::cli
