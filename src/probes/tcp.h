#pragma once
// tcp probe, user-space half: decodes the open and close records into events,
// and reads the per-cgroup counters and duration histogram the kernel keeps
// at scrape time.
#include "probes/net.h"
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

class TcpDecoder {
 public:
  TcpDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId opened_, closed_, duration_, sent_, received_;
  TupleText text_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_tcp_probe(const LoadRequest& req,
                                                                    core::Registry& reg);

}  // namespace ksight::probes
