#pragma once
// What a configuration reload (SIGHUP) may change in a running daemon, and
// what needs a restart (docs/configuration.md, "Reloading").
#include <string>
#include <vector>

#include "config/config.h"

namespace ksight::config {

struct ReloadPlan {
  // `next` with every key that needs a restart put back to its running value:
  // what the daemon runs with after the reload.
  Config applied;
  std::vector<std::string> live;     // changed keys applied now, e.g. "probes"
  std::vector<std::string> restart;  // changed keys kept at their running value
};

// Compares the running configuration with a new, valid one, key by key.
ReloadPlan plan_reload(const Config& running, const Config& next);

// Every key and whether a reload applies it, in file order (for docs and tests).
struct KeyReload {
  std::string key;
  bool live;
};
std::vector<KeyReload> reload_keys();

}  // namespace ksight::config
