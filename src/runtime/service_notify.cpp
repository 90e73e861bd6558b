#include "runtime/service_notify.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstring>

namespace ksight::runtime {

ServiceNotifier::ServiceNotifier() {
  uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is us.
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_usec_ = usec;
}

void ServiceNotifier::ready(const std::string& status) {
  const std::string msg = "READY=1\nSTATUS=" + status;
  if (int r = sd_notify(0, msg.c_str()); r < 0)
    spdlog::warn("sd_notify READY=1: {}", std::strerror(-r));
}

void ServiceNotifier::stopping() {
  sd_notify(0, "STOPPING=1\nSTATUS=detaching probes");
}

void ServiceNotifier::tick(uint64_t now_mono_ns, bool healthy) {
  if (!watchdog_usec_ || !healthy || now_mono_ns < next_ping_ns_) return;
  next_ping_ns_ = now_mono_ns + watchdog_usec_ * 1000 / 2;
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace ksight::runtime
