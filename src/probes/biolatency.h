#pragma once
// biolatency probe, user-space half: reads the per-disk, per-operation
// latency histograms and byte counts the kernel keeps. No events.
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject;

// "vda" for 254:0, from /sys/dev/block/MAJ:MIN/uevent; "MAJ:MIN" when sysfs
// does not know the device (it went away).
std::string block_device_name(uint32_t major, uint32_t minor);

class BiolatencyDecoder {
 public:
  BiolatencyDecoder(core::Registry& reg, LoadedObject& obj);
  bool decode(std::span<const std::byte>, core::Registry::Writer&, core::EventView*) {
    return false;  // the probe emits no records
  }
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  const std::string& disk_name(uint32_t major, uint32_t minor);

  core::FamilyId latency_, bytes_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> disks_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_biolatency_probe(const LoadRequest& req,
                                                                           core::Registry& reg);

}  // namespace ksight::probes
