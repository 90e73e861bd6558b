#include "probes/tcpreset.h"

#include <string>

#include "ksight/abi/tcpreset.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"
#include "tcpreset.skel.h"

namespace ksight::probes {

namespace {
std::string_view direction(uint32_t kind) {
  return kind == KSIGHT_TCPRESET_RECEIVED ? "received" : "sent";
}
}  // namespace

TcpresetDecoder::TcpresetDecoder(core::Registry& reg) {
  resets_ = reg.add({.name = "ksight_tcp_resets_total",
                     .help = "TCP resets sent and received, by cgroup v2 id of the socket, TCP "
                             "state and direction. A reset sent for a segment no socket wanted "
                             "(e.g. a connect to a closed port) has cgroup_id 0 and state none.",
                     .kind = core::MetricKind::counter,
                     .label_names = {std::string(core::kCgroupLabel), "state", "direction"}});
}

bool TcpresetDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                             core::EventView* ev) {
  const auto* e = record_as<ksight_tcpreset_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "tcpreset", e->hdr);
  ev->add_str("direction", direction(e->kind));
  add_tuple(*ev, text_, e->tuple);
  ev->add_str("state", tcp_state_name(e->state));
  return true;
}

void TcpresetDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<ksight_tcp_state_key, uint64_t>(
      obj.map("tcpreset_counts"),
      [&](const ksight_tcp_state_key& k, std::span<const uint64_t> cpus) {
        uint64_t n = 0;
        for (auto v : cpus) n += v;
        w.set(resets_, {core::CgroupKey(k.cgroup_id), tcp_state_name(k.state), direction(k.kind)},
              static_cast<double>(n));
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_tcpreset_probe(const LoadRequest& req,
                                                                         core::Registry& reg) {
  return ObjectProbe<TcpresetDecoder>::create<tcpreset_bpf>(req, reg);
}

}  // namespace ksight::probes
