#include "probes/netdrop.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ksight/abi/netdrop.h"
#include "netdrop.skel.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "probes/net.h"

namespace ksight::probes {

std::string drop_reason_label(std::string_view enumerator) {
  constexpr std::string_view kPrefix = "SKB_DROP_REASON_";
  if (enumerator.starts_with(kPrefix)) enumerator.remove_prefix(kPrefix.size());
  std::string out(enumerator);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::expected<std::vector<std::string>, std::string> drop_reason_labels(const struct btf* vmlinux) {
  int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
  if (id < 0)
    return std::unexpected(
        std::string("kernel BTF has no enum skb_drop_reason (drop reasons came with Linux 5.17)"));
  std::vector<std::string> labels(KSIGHT_NETDROP_SLOTS);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = "reason_" + std::to_string(i);
  labels.back() = "other";
  const btf_type* t = btf__type_by_id(vmlinux, static_cast<__u32>(id));
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); ++i, ++e) {
    auto v = static_cast<uint32_t>(e->val);
    if (v >= KSIGHT_NETDROP_SLOTS - 1) continue;  // MAX and subsystem ids: "other"
    labels[v] = drop_reason_label(btf__name_by_offset(vmlinux, e->name_off));
  }
  return labels;
}

NetdropDecoder::NetdropDecoder(core::Registry& reg, std::vector<std::string> labels)
    : labels_(std::move(labels)) {
  dropped_ = reg.add({.name = "ksight_packets_dropped_total",
                      .help = "Packets the kernel dropped (skb:kfree_skb), by drop reason: the "
                              "running kernel's enum skb_drop_reason, lower-case, without the "
                              "SKB_DROP_REASON_ prefix. not_specified counts frees that gave no "
                              "reason, many of them not drops at all.",
                      .kind = core::MetricKind::counter,
                      .label_names = {"reason"}});
  // Without drop reasons, locations name the drops: keep /proc/kallsyms open
  // from now, while the agent still has CAP_SYSLOG.
  if (labels_.empty()) kallsyms_ = bpf::Fd(::open("/proc/kallsyms", O_RDONLY | O_CLOEXEC));
}

std::string_view NetdropDecoder::label(uint32_t reason) const {
  if (labels_.empty() || reason == KSIGHT_NETDROP_NO_REASON) return "unknown";
  return labels_[std::min<size_t>(reason, labels_.size() - 1)];
}

std::string NetdropDecoder::location_label(uint64_t addr) {
  if (!symbols_) symbols_ = profile::KernelSymbols::load_fd(kallsyms_.get());
  if (addr == 0) return "location:other";  // past KSIGHT_NETDROP_MAX_LOCATIONS
  std::string_view fn = symbols_->function_of(addr);
  if (!fn.empty()) return "location:" + std::string(fn);
  char hex[32];
  std::snprintf(hex, sizeof(hex), "location:0x%llx", static_cast<unsigned long long>(addr));
  return hex;
}

bool NetdropDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                            core::EventView* ev) {
  const auto* e = record_as<ksight_netdrop_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "netdrop", e->hdr);
  ev->add_str("reason", label(e->reason));
  std::string_view proto = e->protocol == 0x0800   ? "ipv4"
                           : e->protocol == 0x86dd ? "ipv6"
                           : e->protocol == 0x0806 ? "arp"
                                                   : std::string_view();
  if (proto.empty()) {
    std::snprintf(protocol_, sizeof(protocol_), "0x%04x", e->protocol);
    proto = protocol_;
  }
  ev->add_str("protocol", proto);
  if (labels_.empty()) {
    // Without reasons the location is all there is: name it.
    location_name_ = location_label(e->location).substr(std::strlen("location:"));
    ev->add_str("location", location_name_);
  } else {
    std::snprintf(location_, sizeof(location_), "0x%llx",
                  static_cast<unsigned long long>(e->location));
    ev->add_str("location", location_);
  }
  return true;
}

void NetdropDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  if (labels_.empty()) {
    for_each_percpu<uint64_t, uint64_t>(
        obj.map("netdrop_locations"), [&](uint64_t addr, std::span<const uint64_t> per_cpu) {
          uint64_t n = 0;
          for (auto v : per_cpu) n += v;
          if (n) w.set(dropped_, {location_label(addr)}, static_cast<double>(n));
        });
    return;
  }
  auto counts = sum_percpu_array(obj.map("netdrop_counts"), KSIGHT_NETDROP_SLOTS);
  for (uint32_t slot = 0; slot < counts.size(); ++slot)
    if (counts[slot]) w.set(dropped_, {label(slot)}, static_cast<double>(counts[slot]));
}

namespace {
struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};
}  // namespace

std::expected<std::unique_ptr<Probe>, std::string> create_netdrop_probe(const LoadRequest& req,
                                                                        core::Registry& reg) {
  // Names first: without them the counters would be numbers nobody can read.
  std::unique_ptr<struct btf, BtfFree> vmlinux(btf__load_vmlinux_btf());
  if (!vmlinux) return std::unexpected(std::string("kernel BTF: ") + std::strerror(errno));
  auto labels = drop_reason_labels(vmlinux.get());
  vmlinux.reset();
  if (!labels) {
    // Before 5.17: counted by the function that freed the packet instead.
    spdlog::info("netdrop: {}; counting drops by kernel location instead", labels.error());
    labels = std::vector<std::string>{};
  }

  auto obj = LoadedObject::load<netdrop_bpf>(req);
  if (!obj) return std::unexpected(obj.error());
  // Where locations are counted, address 0 takes those past the map's size.
  create_percpu_entry<uint64_t, uint64_t>(obj->map("netdrop_locations"), uint64_t{0});
  return ObjectProbe<NetdropDecoder>::adopt(std::move(*obj),
                                            NetdropDecoder(reg, std::move(*labels)));
}

}  // namespace ksight::probes
