#include "probes/tcprtt.h"

#include "ksight/abi/tcprtt.h"
#include "probes/loaded_object.h"
#include "probes/net.h"
#include "probes/runqlat.h"
#include "tcprtt.skel.h"

namespace ksight::probes {

TcprttDecoder::TcprttDecoder(core::Registry& reg, LoadedObject& obj) {
  rtt_ = reg.add(
      log2_us_histogram({.name = "ksight_tcp_rtt_seconds",
                         .help = "Smoothed RTT of established TCP connections, sampled on every "
                                 "segment received, by cgroup v2 id of the socket (0 also collects "
                                 "cgroups past the in-kernel limit).",
                         .kind = core::MetricKind::histogram,
                         .label_names = {std::string(core::kCgroupLabel)}}));
  create_cgroup_zero<ksight_log2_hist>(obj.map("tcprtt_hist"));
}

void TcprttDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  refresh_cgroup_histograms(w, rtt_, obj.map("tcprtt_hist"));
}

std::expected<std::unique_ptr<Probe>, std::string> create_tcprtt_probe(const LoadRequest& req,
                                                                       core::Registry& reg) {
  return ObjectProbe<TcprttDecoder>::create<tcprtt_bpf>(req, reg);
}

}  // namespace ksight::probes
