// The network probes' user-space halves against records and BTF built by
// hand: no kernel, no privileges.
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <memory>

#include "core/clock.h"
#include "ksight/abi/netdrop.h"
#include "ksight/abi/tcpreset.h"
#include "ksight/abi/tcpretrans.h"
#include "probes/net.h"
#include "probes/netdrop.h"
#include "probes/tcpreset.h"
#include "probes/tcpretrans.h"

namespace ksight::probes {
namespace {

template <class T>
std::span<const std::byte> bytes(const T& v) {
  return {reinterpret_cast<const std::byte*>(&v), sizeof(v)};
}

TEST(TcpStateName, LinuxNumbers) {
  EXPECT_EQ(tcp_state_name(0), "none");
  EXPECT_EQ(tcp_state_name(1), "established");
  EXPECT_EQ(tcp_state_name(2), "syn_sent");
  EXPECT_EQ(tcp_state_name(7), "close");
  EXPECT_EQ(tcp_state_name(12), "new_syn_recv");
  EXPECT_EQ(tcp_state_name(13), "unknown");
}

TEST(TcpresetDecoder, Ipv6TupleAndDirection) {
  core::Registry reg;
  TcpresetDecoder dec(reg);
  ksight_tcpreset_event e{};
  e.hdr.probe_id = KSIGHT_PROBE_TCPRESET;
  e.hdr.ktime_ns = core::mono_ns();
  e.tuple.family = KSIGHT_AF_INET6;
  ::inet_pton(AF_INET6, "fd00::1", e.tuple.saddr);
  ::inet_pton(AF_INET6, "fd00::2", e.tuple.daddr);
  e.tuple.sport = 40000;
  e.tuple.dport = 443;
  e.state = 2;
  e.kind = KSIGHT_TCPRESET_RECEIVED;
  core::EventView ev;
  auto w = reg.write(core::mono_ns());
  ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
  ASSERT_FALSE(dec.decode(bytes(e).first(40), w, &ev));
  EXPECT_EQ(ev.probe, "tcpreset");
  EXPECT_EQ(ev.find("direction")->s, "received");
  EXPECT_EQ(ev.find("family")->s, "ipv6");
  EXPECT_EQ(ev.find("saddr")->s, "fd00::1");
  EXPECT_EQ(ev.find("daddr")->s, "fd00::2");
  EXPECT_EQ(ev.find("sport")->u, 40000u);
  EXPECT_EQ(ev.find("dport")->u, 443u);
  EXPECT_EQ(ev.find("state")->s, "syn_sent");
}

TEST(TcpretransDecoder, Ipv4Tuple) {
  core::Registry reg;
  TcpretransDecoder dec(reg);
  ksight_tcpretrans_event e{};
  e.tuple.family = KSIGHT_AF_INET;
  ::inet_pton(AF_INET, "10.1.2.3", e.tuple.saddr);
  ::inet_pton(AF_INET, "10.1.2.4", e.tuple.daddr);
  e.tuple.sport = 1234;
  e.tuple.dport = 80;
  e.state = 1;
  core::EventView ev;
  auto w = reg.write(core::mono_ns());
  ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
  EXPECT_EQ(ev.find("saddr")->s, "10.1.2.3");
  EXPECT_EQ(ev.find("daddr")->s, "10.1.2.4");
  EXPECT_EQ(ev.find("state")->s, "established");
}

TEST(DropReasons, LabelStripsThePrefixAndLowersTheCase) {
  EXPECT_EQ(drop_reason_label("SKB_DROP_REASON_NO_SOCKET"), "no_socket");
  EXPECT_EQ(drop_reason_label("SKB_DROP_REASON_TCP_RFC7323_PAWS"), "tcp_rfc7323_paws");
  EXPECT_EQ(drop_reason_label("SKB_NOT_DROPPED_YET"), "skb_not_dropped_yet");
}

struct BtfFree {
  void operator()(struct btf* b) const { btf__free(b); }
};

TEST(DropReasons, NamesComeFromTheKernelsEnumNotFromUs) {
  // A made-up kernel whose values differ from any real one.
  std::unique_ptr<struct btf, BtfFree> b(btf__new_empty());
  int id = btf__add_enum(b.get(), "skb_drop_reason", 4);
  ASSERT_GT(id, 0);
  ASSERT_EQ(btf__add_enum_value(b.get(), "SKB_DROP_REASON_NOT_SPECIFIED", 7), 0);
  ASSERT_EQ(btf__add_enum_value(b.get(), "SKB_DROP_REASON_NO_SOCKET", 9), 0);
  ASSERT_EQ(btf__add_enum_value(b.get(), "SKB_DROP_REASON_MAX", 1000), 0);
  auto labels = drop_reason_labels(b.get());
  ASSERT_TRUE(labels) << labels.error();
  ASSERT_EQ(labels->size(), size_t{KSIGHT_NETDROP_SLOTS});
  EXPECT_EQ((*labels)[7], "not_specified");
  EXPECT_EQ((*labels)[9], "no_socket");
  EXPECT_EQ((*labels)[8], "reason_8");
  EXPECT_EQ(labels->back(), "other");

  std::unique_ptr<struct btf, BtfFree> old(btf__new_empty());
  auto none = drop_reason_labels(old.get());
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().find("5.17"), std::string::npos);
}

TEST(NetdropDecoder, ReasonProtocolLocation) {
  core::Registry reg;
  std::vector<std::string> labels(KSIGHT_NETDROP_SLOTS, "x");
  labels[3] = "no_socket";
  NetdropDecoder dec(reg, labels);
  ksight_netdrop_event e{};
  e.reason = 3;
  e.protocol = 0x86dd;
  e.location = 0xffffffff81000000ull;
  core::EventView ev;
  auto w = reg.write(core::mono_ns());
  ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
  EXPECT_EQ(ev.find("reason")->s, "no_socket");
  EXPECT_EQ(ev.find("protocol")->s, "ipv6");
  EXPECT_EQ(ev.find("location")->s, "0xffffffff81000000");
  e.reason = 100000;  // a subsystem reason: the last slot
  e.protocol = 0x88cc;
  ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
  EXPECT_EQ(ev.find("reason")->s, "x");
  EXPECT_EQ(ev.find("protocol")->s, "0x88cc");
}

}  // namespace
}  // namespace ksight::probes
