#pragma once
// The daemon's /debug/pprof/profile: a CPU profile of the node taken over
// ?seconds=N, in pprof's format, as Go programs serve theirs, so `go tool
// pprof http://NODE:9437/debug/pprof/profile?seconds=10` works unchanged.
// The profile probe counts stacks only while a profile is being taken; one
// profile at a time.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "export/http_router.h"
#include "profile/symbolizer.h"

namespace ksight::identity {
class Resolver;
}
namespace ksight::runtime {
class Agent;
}

namespace ksight::cli {

class PprofService : public std::enable_shared_from_this<PprofService> {
 public:
  // Construct before privileges are dropped: the symbolizer opens
  // /proc/kallsyms now. `agent` and `resolver` outlive every profile (cancel
  // and stop the HTTP server before they go).
  PprofService(runtime::Agent& agent, identity::Resolver& resolver);

  // The HTTP handler: at once when no profile can be taken, else deferred work.
  exporters::HttpResponse handle(const exporters::ProfileQuery& q);
  // Ends a profile in progress early (its client gets a 503) and keeps new
  // ones from starting while the returned lock is held: a configuration
  // reload may unload the profile probe under it.
  std::unique_lock<std::mutex> hold_off();
  // Stops the profile probe taking stacks until a profile asks for them (at
  // start, and after a reload that may have loaded the probe anew).
  void pause_stacks();
  // For shutdown: a profile in progress ends now.
  void cancel() { cancel_.store(true); }

 private:
  exporters::HttpResponse take(const exporters::ProfileQuery& q);

  runtime::Agent& agent_;
  identity::Resolver& resolver_;
  profile::Symbolizer symbolizer_;
  std::mutex use_mu_;  // held while a profile uses the probe
  std::atomic<bool> busy_{false};
  std::atomic<bool> cancel_{false};
};

}  // namespace ksight::cli
