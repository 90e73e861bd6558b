// ksight check-config FILE: is this file one `ksight run --config FILE` takes?
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"

namespace ksight::cli {

int run_check_config(const std::string& path) {
  // The very function `run` starts from (and a reload calls), with nothing
  // else on the command line: same parser, same validate(), same message.
  // Nothing is loaded or attached, so any user may run it.
  auto c = resolve_config(RunFlags{.config_file = path});
  if (!c) return fail(kExitUsage, c.error());
  for (const auto& note : c->notes) std::fprintf(stderr, "ksight: warning: %s\n", note.c_str());
  std::string probes;
  for (const auto& p : c->probes) probes += (probes.empty() ? "" : ",") + p;
  std::printf("%s: ok (probes: %s; /metrics on %s)\n", path.c_str(), probes.c_str(),
              c->listen.c_str());
  return kExitOk;
}

}  // namespace ksight::cli
