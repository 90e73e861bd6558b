#pragma once
// SIGHUP to `ksight run --config FILE`: read the file again and apply what can
// change live (docs/configuration.md, "Reloading").
#include <atomic>
#include <cstdint>
#include <string>

#include "cli/commands.h"
#include "config/config.h"
#include "core/registry.h"
#include "runtime/agent.h"

namespace ksight::cli {

class ConfigReloader {
 public:
  // `running`: what the daemon started with. Publishes the reload metrics.
  ConfigReloader(const RunFlags& flags, config::Config running, core::Registry& registry,
                 runtime::Agent& agent);
  ~ConfigReloader();
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Reads the file again (flags and OTEL_* still override it, as at start).
  // Invalid: one error line naming the key, and nothing changes. Valid: the
  // live keys are applied, each changed restart key is one warning and keeps
  // its running value. Returns whether the file was valid. Main thread only.
  bool reload();
  const config::Config& running() const { return running_; }

 private:
  const RunFlags& flags_;
  config::Config running_;
  core::Registry& registry_;
  runtime::Agent& agent_;
  size_t refresher_ = 0;
  std::atomic<uint64_t> ok_{0}, errors_{0};
  std::atomic<double> last_success_unix_{0};
  std::atomic<bool> last_ok_{true};
};

}  // namespace ksight::cli
