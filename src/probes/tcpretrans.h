#pragma once
// tcpretrans probe, user-space half: retransmit records as events, and the
// per-cgroup, per-state counters the kernel keeps, read at scrape time.
#include "probes/net.h"
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class TcpretransDecoder {
 public:
  explicit TcpretransDecoder(core::Registry& reg);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId retransmits_;
  TupleText text_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_tcpretrans_probe(const LoadRequest& req,
                                                                           core::Registry& reg);

}  // namespace ksight::probes
