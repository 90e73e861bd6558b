#include "probes/cgroupnet.h"

#include <string>

#include "cgroupnet.skel.h"
#include "ksight/abi/cgroupnet.h"
#include "probes/loaded_object.h"
#include "probes/net.h"

namespace ksight::probes {

CgroupnetDecoder::CgroupnetDecoder(core::Registry& reg, LoadedObject& obj) {
  bytes_ = reg.add({.name = "ksight_cgroup_network_bytes_total",
                    .help = "Bytes of IP packets in (rx) and out (tx) of sockets of a cgroup, by "
                            "cgroup v2 id, as the cgroup_skb hooks see them (headers included).",
                    .kind = core::MetricKind::counter,
                    .label_names = {std::string(core::kCgroupLabel), "direction"}});
  packets_ = reg.add({.name = "ksight_cgroup_network_packets_total",
                      .help = "IP packets in (rx) and out (tx) of sockets of a cgroup, by "
                              "cgroup v2 id (a GSO packet counts once).",
                      .kind = core::MetricKind::counter,
                      .label_names = {std::string(core::kCgroupLabel), "direction"}});
  create_cgroup_zero<ksight_cgroupnet_stats>(obj.map("cgroupnet_stats"));
}

void CgroupnetDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<uint64_t, ksight_cgroupnet_stats>(
      obj.map("cgroupnet_stats"),
      [&](uint64_t cgroup, std::span<const ksight_cgroupnet_stats> cpus) {
        ksight_cgroupnet_stats t{};
        for (const auto& s : cpus) {
          t.rx_bytes += s.rx_bytes;
          t.rx_packets += s.rx_packets;
          t.tx_bytes += s.tx_bytes;
          t.tx_packets += s.tx_packets;
        }
        if (!t.rx_packets && !t.tx_packets) return;
        const core::CgroupKey id(cgroup);
        w.set(bytes_, {id, "rx"}, static_cast<double>(t.rx_bytes));
        w.set(bytes_, {id, "tx"}, static_cast<double>(t.tx_bytes));
        w.set(packets_, {id, "rx"}, static_cast<double>(t.rx_packets));
        w.set(packets_, {id, "tx"}, static_cast<double>(t.tx_packets));
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_cgroupnet_probe(const LoadRequest& req,
                                                                          core::Registry& reg) {
  return ObjectProbe<CgroupnetDecoder>::create<cgroupnet_bpf>(req, reg);
}

}  // namespace ksight::probes
