#include "probes/net.h"

#include <arpa/inet.h>

#include <array>
#include <string>

#include "ksight/abi/hist.h"

namespace ksight::probes {

namespace {
constexpr std::array<std::string_view, 13> kTcpStates = {
    "none",  "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",    "time_wait",
    "close", "close_wait",  "last_ack", "listen",   "closing",   "new_syn_recv",
};
}  // namespace

std::string_view tcp_state_name(uint32_t state) {
  if (state < kTcpStates.size()) return kTcpStates[state];
  return "unknown";
}

void add_tuple(core::EventView& ev, TupleText& text, const ksight_tuple& t) {
  int af = t.family == KSIGHT_AF_INET6 ? AF_INET6 : AF_INET;
  if (!::inet_ntop(af, t.saddr, text.saddr, sizeof(text.saddr))) text.saddr[0] = '\0';
  if (!::inet_ntop(af, t.daddr, text.daddr, sizeof(text.daddr))) text.daddr[0] = '\0';
  ev.add_str("family", af == AF_INET6 ? "ipv6" : "ipv4");
  ev.add_str("saddr", text.saddr);
  ev.add_u64("sport", t.sport);
  ev.add_str("daddr", text.daddr);
  ev.add_u64("dport", t.dport);
}

void refresh_cgroup_histograms(core::Registry::Writer& w, core::FamilyId family, bpf_map* m) {
  std::vector<uint64_t> buckets(KSIGHT_LOG2_SLOTS);
  for_each_percpu<uint64_t, ksight_log2_hist>(
      m, [&](uint64_t cgroup, std::span<const ksight_log2_hist> cpus) {
        std::fill(buckets.begin(), buckets.end(), 0);
        uint64_t sum = 0, total = 0;
        for (const auto& h : cpus) {
          for (size_t s = 0; s < buckets.size(); ++s) buckets[s] += h.slots[s];
          sum += h.sum;
        }
        for (auto b : buckets) total += b;
        if (total == 0) return;
        const core::CgroupKey id(cgroup);
        std::string_view labels[] = {id};
        w.set_histogram(family, labels, buckets, static_cast<double>(sum) * 1e-6);
      });
}

}  // namespace ksight::probes
