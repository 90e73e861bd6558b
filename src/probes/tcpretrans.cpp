#include "probes/tcpretrans.h"

#include <string>

#include "ksight/abi/tcpretrans.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"
#include "tcpretrans.skel.h"

namespace ksight::probes {

TcpretransDecoder::TcpretransDecoder(core::Registry& reg) {
  retransmits_ = reg.add({.name = "ksight_tcp_retransmits_total",
                          .help = "TCP segments retransmitted, by cgroup v2 id of the socket and "
                                  "TCP state at the time.",
                          .kind = core::MetricKind::counter,
                          .label_names = {std::string(core::kCgroupLabel), "state"}});
}

bool TcpretransDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                               core::EventView* ev) {
  const auto* e = record_as<ksight_tcpretrans_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "tcpretrans", e->hdr);
  add_tuple(*ev, text_, e->tuple);
  ev->add_str("state", tcp_state_name(e->state));
  return true;
}

void TcpretransDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<ksight_tcp_state_key, uint64_t>(
      obj.map("tcpretrans_counts"),
      [&](const ksight_tcp_state_key& k, std::span<const uint64_t> cpus) {
        uint64_t n = 0;
        for (auto v : cpus) n += v;
        w.set(retransmits_, {core::CgroupKey(k.cgroup_id), tcp_state_name(k.state)},
              static_cast<double>(n));
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_tcpretrans_probe(const LoadRequest& req,
                                                                           core::Registry& reg) {
  return ObjectProbe<TcpretransDecoder>::create<tcpretrans_bpf>(req, reg);
}

}  // namespace ksight::probes
