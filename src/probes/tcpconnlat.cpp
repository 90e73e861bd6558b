#include "probes/tcpconnlat.h"

#include "ksight/abi/tcpconnlat.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"
#include "probes/runqlat.h"
#include "tcpconnlat.skel.h"

namespace ksight::probes {

TcpconnlatDecoder::TcpconnlatDecoder(core::Registry& reg, LoadedObject& obj) {
  latency_ =
      reg.add(log2_us_histogram({.name = "ksight_tcp_connect_latency_seconds",
                                 .help = "Time from connect() to the SYN-ACK that established the "
                                         "connection, by cgroup v2 id of the caller.",
                                 .kind = core::MetricKind::histogram,
                                 .label_names = {std::string(core::kCgroupLabel)}}));
  create_cgroup_zero<ksight_log2_hist>(obj.map("tcpconnlat_hist"));
}

bool TcpconnlatDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                               core::EventView* ev) {
  const auto* e = record_as<ksight_tcpconnlat_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "tcpconnlat", e->hdr);
  add_tuple(*ev, text_, e->tuple);
  ev->add_f64("latency_ms", static_cast<double>(e->latency_ns) / 1e6);
  return true;
}

void TcpconnlatDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  refresh_cgroup_histograms(w, latency_, obj.map("tcpconnlat_hist"));
}

std::expected<std::unique_ptr<Probe>, std::string> create_tcpconnlat_probe(const LoadRequest& req,
                                                                           core::Registry& reg) {
  return ObjectProbe<TcpconnlatDecoder>::create<tcpconnlat_bpf>(req, reg);
}

}  // namespace ksight::probes
