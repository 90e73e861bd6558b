// The attach-variant choice against fake kernels: what runs on a node with
// fentry and kprobes, on one with only tracepoints, and on one with nothing.
#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "bpf/attach.h"
#include "probes/probe.h"

namespace ksight::bpf {
namespace {

class FakeKernel final : public FeatureSource {
 public:
  explicit FakeKernel(std::set<AttachMethod> have) : have_(std::move(have)) {}
  Availability ringbuf() override { return {true, {}}; }
  Availability attach(AttachMethod m, std::string_view) override {
    ++asked_;
    if (have_.count(m)) return {true, {}};
    return {false, std::string(to_string(m)) + " missing"};
  }
  int asked_ = 0;

 private:
  std::set<AttachMethod> have_;
};

constexpr AttachVariant kAll[] = {
    {AttachMethod::tp_btf, "tcp/tcp_probe", {"p_tp_btf"}},
    {AttachMethod::raw_tp, "tcp/tcp_probe", {"p_raw_tp"}},
    {AttachMethod::tracepoint, "tcp/tcp_probe", {"p_tracepoint"}},
    {AttachMethod::fentry, "tcp_v4_connect", {"p_fentry"}},
    {AttachMethod::kprobe, "tcp_v4_connect", {"p_kprobe"}},
};

TEST(ChooseVariant, PrefersTpBtfWhenPresent) {
  FakeKernel k(
      {AttachMethod::tp_btf, AttachMethod::raw_tp, AttachMethod::fentry, AttachMethod::kprobe});
  auto c = choose_variant(kAll, k);
  ASSERT_NE(c.chosen, nullptr);
  EXPECT_TRUE(c.chosen->uses("p_tp_btf"));
  EXPECT_FALSE(c.chosen->uses("p_raw_tp"));
  EXPECT_FALSE(c.chosen->uses(""));
  EXPECT_TRUE(c.skipped.empty());
  EXPECT_EQ(k.asked_, 1);  // stops at the first that works
}

TEST(ChooseVariant, FallsBackInOrderAndSaysWhy) {
  FakeKernel k({AttachMethod::tracepoint, AttachMethod::kprobe});
  auto c = choose_variant(kAll, k);
  ASSERT_NE(c.chosen, nullptr);
  EXPECT_EQ(c.chosen->method, AttachMethod::tracepoint);
  ASSERT_EQ(c.skipped.size(), 2u);
  EXPECT_EQ(c.skipped[0], "tp_btf tcp/tcp_probe: tp_btf missing");
}

TEST(ChooseVariant, FentryBeforeKprobe) {
  // A real node: BTF trampolines and kprobes, no tracepoint for the hook.
  constexpr AttachVariant kFn[] = {
      {AttachMethod::fentry, "tcp_v4_connect", {"p_fentry"}},
      {AttachMethod::kprobe, "tcp_v4_connect", {"p_kprobe"}},
  };
  FakeKernel both({AttachMethod::fentry, AttachMethod::kprobe});
  EXPECT_EQ(choose_variant(kFn, both).chosen->method, AttachMethod::fentry);
  // This machine: fentry refused (EPERM), no kprobes.
  FakeKernel neither({AttachMethod::tp_btf});
  auto c = choose_variant(kFn, neither);
  EXPECT_EQ(c.chosen, nullptr);
  EXPECT_EQ(c.reason(),
            "fentry tcp_v4_connect: fentry missing; kprobe tcp_v4_connect: kprobe missing");
  FakeKernel kprobes_only({AttachMethod::kprobe});
  EXPECT_EQ(choose_variant(kFn, kprobes_only).chosen->method, AttachMethod::kprobe);
}

TEST(ProbeTable, EveryProbeListsVariantsInPreferenceOrder) {
  for (const auto& spec : probes::probe_table()) {
    ASSERT_FALSE(spec.variants.empty()) << spec.name;
    for (size_t i = 1; i < spec.variants.size(); ++i) {
      EXPECT_LE(static_cast<int>(spec.variants[i - 1].method),
                static_cast<int>(spec.variants[i].method))
          << spec.name;
    }
    EXPECT_EQ(probes::find_probe(spec.name), &spec);
  }
}

TEST(ProbeTable, SuggestsClosestNames) {
  auto near = probes::closest_probes("exce");
  ASSERT_FALSE(near.empty());
  EXPECT_EQ(near.front(), "exec");
  EXPECT_EQ(probes::closest_probes("tcpconlat").front(), "tcpconnlat");
  EXPECT_EQ(probes::closest_probes("cgroupnt").front(), "cgroupnet");
  EXPECT_TRUE(probes::closest_probes("qqqqqqqq").empty());
}

// The network probes' own tables, against the kernels they meet.
std::optional<AttachMethod> chosen_method(std::string_view probe, std::set<AttachMethod> have) {
  FakeKernel k(std::move(have));
  auto c = choose_variant(probes::find_probe(probe)->variants, k);
  if (!c.chosen) return std::nullopt;
  return c.chosen->method;
}

TEST(NetworkVariants, TracepointProbesFallBackTpBtfRawTpTracepoint) {
  for (auto probe : {"tcp", "tcpretrans", "tcpreset", "netdrop", "tcprtt"}) {
    SCOPED_TRACE(probe);
    EXPECT_EQ(chosen_method(probe, {AttachMethod::tp_btf, AttachMethod::raw_tp,
                                    AttachMethod::tracepoint, AttachMethod::fentry}),
              AttachMethod::tp_btf);
    EXPECT_EQ(chosen_method(probe, {AttachMethod::raw_tp, AttachMethod::tracepoint}),
              AttachMethod::raw_tp);
    EXPECT_EQ(chosen_method(probe, {AttachMethod::tracepoint, AttachMethod::kprobe}),
              AttachMethod::tracepoint);
  }
  // Only tcprtt has kernel-function variants; the others need a tracepoint.
  for (auto probe : {"tcp", "tcpretrans", "tcpreset", "netdrop"})
    EXPECT_EQ(chosen_method(probe, {AttachMethod::fentry, AttachMethod::kprobe}), std::nullopt)
        << probe;
}

TEST(NetworkVariants, TcprttGoesThroughAllFiveInOrder) {
  EXPECT_EQ(chosen_method("tcprtt", {AttachMethod::fentry, AttachMethod::kprobe}),
            AttachMethod::fentry);
  EXPECT_EQ(chosen_method("tcprtt", {AttachMethod::kprobe}), AttachMethod::kprobe);
  EXPECT_EQ(chosen_method("tcprtt", {}), std::nullopt);
  FakeKernel none({});
  auto c = choose_variant(probes::find_probe("tcprtt")->variants, none);
  ASSERT_EQ(c.skipped.size(), 5u);
  EXPECT_EQ(c.skipped[0], "tp_btf tcp/tcp_probe: tp_btf missing");
  EXPECT_EQ(c.skipped[3], "fentry tcp_rcv_established: fentry missing");
  EXPECT_EQ(c.skipped[4], "kprobe tcp_rcv_established: kprobe missing");
}

TEST(NetworkVariants, TcpconnlatNeedsFentryOrKprobes) {
  EXPECT_EQ(chosen_method("tcpconnlat", {AttachMethod::fentry, AttachMethod::kprobe}),
            AttachMethod::fentry);
  EXPECT_EQ(chosen_method("tcpconnlat", {AttachMethod::kprobe}), AttachMethod::kprobe);
  // This machine: every tracepoint flavour, fentry refused, no kprobes.
  FakeKernel here({AttachMethod::tp_btf, AttachMethod::raw_tp, AttachMethod::tracepoint,
                   AttachMethod::cgroup_skb});
  auto c = choose_variant(probes::find_probe("tcpconnlat")->variants, here);
  EXPECT_EQ(c.chosen, nullptr);
  EXPECT_EQ(c.reason(),
            "fentry tcp_v4_connect: fentry missing; kprobe tcp_v4_connect: kprobe missing");
  // Each variant hooks connect() for both families and the SYN-ACK.
  for (const auto& v : probes::find_probe("tcpconnlat")->variants) {
    int n = 0;
    for (auto p : v.programs) n += !p.empty();
    EXPECT_EQ(n, 3);
  }
}

TEST(NetworkVariants, CgroupnetOnlyAttachesToCgroups) {
  EXPECT_EQ(chosen_method("cgroupnet", {AttachMethod::cgroup_skb}), AttachMethod::cgroup_skb);
  EXPECT_EQ(chosen_method("cgroupnet", {AttachMethod::tp_btf, AttachMethod::kprobe}), std::nullopt);
}

TEST(NetworkVariants, OffByDefault) {
  for (auto probe :
       {"tcp", "tcpretrans", "tcpreset", "tcprtt", "netdrop", "cgroupnet", "tcpconnlat"})
    EXPECT_FALSE(probes::find_probe(probe)->default_on) << probe;
}

TEST(AttachMethod, NamesRoundTrip) {
  for (auto m :
       {AttachMethod::tp_btf, AttachMethod::raw_tp, AttachMethod::tracepoint, AttachMethod::fentry,
        AttachMethod::kprobe, AttachMethod::perf_event, AttachMethod::cgroup_skb}) {
    EXPECT_EQ(attach_method_from_string(to_string(m)), m);
  }
  EXPECT_FALSE(attach_method_from_string("uprobe"));
}

}  // namespace
}  // namespace ksight::bpf
