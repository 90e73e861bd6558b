#pragma once
// netdrop probe, user-space half: names the drop reasons from the running
// kernel's BTF (enum skb_drop_reason), reads the per-reason counters at
// scrape time, and decodes the per-drop records into events. Kernels before
// 5.17 give no reason: there the counters are per freeing function, named
// from /proc/kallsyms (reason="location:<function>").
#include <optional>
#include <string>
#include <vector>

#include "bpf/handles.h"
#include "probes/probe.h"
#include "profile/kernel_symbols.h"

struct btf;

namespace ksight::probes {

class LoadedObject;

// "SKB_DROP_REASON_NO_SOCKET" -> "no_socket".
std::string drop_reason_label(std::string_view enumerator);

// Label of every counter slot (KSIGHT_NETDROP_SLOTS of them): the reason
// names of `vmlinux`'s enum skb_drop_reason, "reason_<n>" for values it does
// not name, and "other" for the last slot, which takes the values past it.
std::expected<std::vector<std::string>, std::string> drop_reason_labels(const struct btf* vmlinux);

class NetdropDecoder {
 public:
  // Empty `labels`: the kernel has no drop reasons (counted by location).
  NetdropDecoder(core::Registry& reg, std::vector<std::string> labels);
  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w, core::EventView* ev);
  void refresh(core::Registry::Writer& w, const LoadedObject& obj);

 private:
  std::string_view label(uint32_t reason) const;
  // "location:<function>" of a freeing address ("location:0x..." unnamed).
  std::string location_label(uint64_t addr);
  core::FamilyId dropped_;
  std::vector<std::string> labels_;
  std::optional<profile::KernelSymbols> symbols_;  // loaded at the first drop without a reason
  bpf::Fd kallsyms_;                               // opened at attach (see KernelSymbols::load_fd)
  char protocol_[8] = {};
  char location_[24] = {};
  std::string location_name_;
};

std::expected<std::unique_ptr<Probe>, std::string> create_netdrop_probe(const LoadRequest& req,
                                                                        core::Registry& reg);

}  // namespace ksight::probes
