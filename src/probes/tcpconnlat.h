#pragma once
// tcpconnlat probe, user-space half: a record per established connect() as an
// event, and the per-cgroup latency histograms the kernel keeps.
#include "probes/net.h"
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class TcpconnlatDecoder {
 public:
  TcpconnlatDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId latency_;
  TupleText text_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_tcpconnlat_probe(const LoadRequest& req,
                                                                           core::Registry& reg);

}  // namespace ksight::probes
