#pragma once
// signal probe, user-space half: reads the kernel's count of signals by
// number, and decodes the records of fatal and interesting ones.
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

// Signals that make a record (the rest are only counted): the ones that
// kill, stop a service or mean a crash.
uint64_t signal_record_mask();

class SignalDecoder {
 public:
  SignalDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  core::FamilyId signals_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_signal_probe(const LoadRequest& req,
                                                                       core::Registry& reg);

}  // namespace ksight::probes
