// tcp probe: the kernel counts per cgroup; the records only become events
// (metrics come from the maps, so they do not depend on the event channel
// keeping up).
#include "probes/tcp.h"

#include <string>

#include "ksight/abi/tcp.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"
#include "probes/runqlat.h"
#include "tcp.skel.h"

namespace ksight::probes {

TcpDecoder::TcpDecoder(core::Registry& reg, LoadedObject& obj) {
  opened_ = reg.add({.name = "ksight_tcp_connections_opened_total",
                     .help = "TCP connections established, by direction (active: connect(), "
                             "passive: accepted) and cgroup v2 id of the socket's owner.",
                     .kind = core::MetricKind::counter,
                     .label_names = {std::string(core::kCgroupLabel), "direction"}});
  closed_ = reg.add({.name = "ksight_tcp_connections_closed_total",
                     .help = "Established TCP connections that reached CLOSE, by cgroup v2 id.",
                     .kind = core::MetricKind::counter,
                     .label_names = {std::string(core::kCgroupLabel)}});
  duration_ = reg.add(
      log2_us_histogram({.name = "ksight_tcp_connection_duration_seconds",
                         .help = "Lifetime of TCP connections from ESTABLISHED to CLOSE, by "
                                 "cgroup v2 id (connections ksight saw open).",
                         .kind = core::MetricKind::histogram,
                         .label_names = {std::string(core::kCgroupLabel)}}));
  sent_ = reg.add({.name = "ksight_tcp_sent_bytes_total",
                   .help = "Bytes sent and acknowledged (tcp_sock bytes_acked) over TCP "
                           "connections, counted when they close, by cgroup v2 id.",
                   .kind = core::MetricKind::counter,
                   .label_names = {std::string(core::kCgroupLabel)}});
  received_ = reg.add({.name = "ksight_tcp_received_bytes_total",
                       .help = "Bytes received (tcp_sock bytes_received) over TCP connections, "
                               "counted when they close, by cgroup v2 id.",
                       .kind = core::MetricKind::counter,
                       .label_names = {std::string(core::kCgroupLabel)}});
  create_cgroup_zero<ksight_tcp_stats>(obj.map("tcp_stats"));
}

bool TcpDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                        core::EventView* ev) {
  const auto* e = record_as<ksight_tcp_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "tcp", e->hdr);
  static constexpr std::string_view kKinds[] = {"connect", "accept", "close"};
  ev->add_str("event", e->kind < 3 ? kKinds[e->kind] : "unknown");
  add_tuple(*ev, text_, e->tuple);
  if (e->kind == KSIGHT_TCP_CLOSE) {
    ev->add_f64("duration_ms", static_cast<double>(e->duration_ns) / 1e6);
    ev->add_u64("tx_bytes", e->bytes_acked);
    ev->add_u64("rx_bytes", e->bytes_received);
    ev->add_u64("srtt_us", e->srtt_us);
  }
  return true;
}

void TcpDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  std::vector<uint64_t> buckets(KSIGHT_LOG2_SLOTS);
  for_each_percpu<uint64_t, ksight_tcp_stats>(
      obj.map("tcp_stats"), [&](uint64_t cgroup, std::span<const ksight_tcp_stats> cpus) {
        ksight_tcp_stats t{};
        std::fill(buckets.begin(), buckets.end(), 0);
        for (const auto& s : cpus) {
          t.opened_active += s.opened_active;
          t.opened_passive += s.opened_passive;
          t.closed += s.closed;
          t.bytes_acked += s.bytes_acked;
          t.bytes_received += s.bytes_received;
          t.duration.sum += s.duration.sum;
          for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += s.duration.slots[i];
        }
        if (!t.opened_active && !t.opened_passive && !t.closed) return;
        const core::CgroupKey id(cgroup);
        if (t.opened_active) w.set(opened_, {id, "active"}, static_cast<double>(t.opened_active));
        if (t.opened_passive)
          w.set(opened_, {id, "passive"}, static_cast<double>(t.opened_passive));
        if (t.closed) {
          w.set(closed_, {id}, static_cast<double>(t.closed));
          w.set(sent_, {id}, static_cast<double>(t.bytes_acked));
          w.set(received_, {id}, static_cast<double>(t.bytes_received));
        }
        uint64_t n = 0;
        for (auto b : buckets) n += b;
        std::string_view labels[] = {id};
        if (n)
          w.set_histogram(duration_, labels, buckets, static_cast<double>(t.duration.sum) * 1e-6);
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_tcp_probe(const LoadRequest& req,
                                                                    core::Registry& reg) {
  return ObjectProbe<TcpDecoder>::create<tcp_bpf>(req, reg);
}

}  // namespace ksight::probes
