#pragma once
// The systemd notify protocol (sd_notify(3)) for `ksight run` under
// Type=notify: READY=1 once every probe is attached and /metrics serves,
// STOPPING=1 on shutdown, and WATCHDOG=1 pings while the agent's event
// threads are alive. Without NOTIFY_SOCKET every call does nothing.
#include <cstdint>
#include <string>

namespace ksight::runtime {

class ServiceNotifier {
 public:
  // Reads WATCHDOG_USEC (and WATCHDOG_PID, which must be this process).
  ServiceNotifier();

  void ready(const std::string& status);
  void stopping();
  // Pings at half the watchdog interval, and only while `healthy`: a reader or
  // dispatcher that died stops the pings, and systemd restarts the service.
  void tick(uint64_t now_mono_ns, bool healthy);

  uint64_t watchdog_usec() const { return watchdog_usec_; }
  // When tick() next has a ping to send (mono ns); UINT64_MAX without a watchdog.
  uint64_t next_ping_ns() const { return watchdog_usec_ ? next_ping_ns_ : UINT64_MAX; }

 private:
  uint64_t watchdog_usec_ = 0;
  uint64_t next_ping_ns_ = 0;
};

}  // namespace ksight::runtime
