#pragma once
// tcpreset probe, user-space half: reset records (sent and received) as events, and the
// per-cgroup, per-state, per-direction counters the kernel keeps, read at scrape time.
#include "probes/net.h"
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class TcpresetDecoder {
 public:
  explicit TcpresetDecoder(core::Registry& reg);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId resets_;
  TupleText text_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_tcpreset_probe(const LoadRequest& req,
                                                                         core::Registry& reg);

}  // namespace ksight::probes
