// Decoders against records built by hand, as the BPF side lays them out.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/clock.h"
#include "ksight/abi/exec.h"
#include "ksight/abi/exit.h"
#include "ksight/abi/hist.h"
#include "probes/decode.h"
#include "probes/exec.h"
#include "probes/exit.h"
#include "probes/runqlat.h"

namespace ksight::probes {
namespace {

template <class T>
std::span<const std::byte> bytes(const T& v) {
  return {reinterpret_cast<const std::byte*>(&v), sizeof(v)};
}

double value_of(core::Registry& reg, std::string_view name, std::vector<std::string> labels) {
  for (const auto& f : reg.collect(core::mono_ns()))
    if (f.desc->name == name)
      for (const auto& s : f.series)
        if (s.labels == labels) return s.value;
  return -1;
}

TEST(ExecDecoder, FieldsAndCount) {
  core::Registry reg;
  ExecDecoder dec(reg);
  ksight_exec_event e{};
  e.hdr.probe_id = KSIGHT_PROBE_EXEC;
  e.hdr.pid = 10;
  e.hdr.ktime_ns = core::mono_ns();
  std::strcpy(e.hdr.comm, "true");
  e.ppid = 9;
  e.uid = 1000;
  std::strcpy(e.filename, "/bin/true");
  const char args[] = "/bin/true\0a b\0c";
  std::memcpy(e.args, args, sizeof(args));
  e.args_len = sizeof(args);
  core::EventView ev;
  {
    auto w = reg.write(core::mono_ns());
    ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
    ASSERT_TRUE(dec.decode(bytes(e), w, nullptr));
    ASSERT_FALSE(dec.decode(bytes(e).first(20), w, nullptr));  // short record
  }
  EXPECT_EQ(ev.comm, "true");
  EXPECT_EQ(ev.find("filename")->s, "/bin/true");
  EXPECT_EQ(ev.find("args")->s, "/bin/true a b c");
  EXPECT_EQ(ev.find("uid")->u, 1000u);
  EXPECT_EQ(value_of(reg, "ksight_process_execs_total", {"true"}), 2);

  e.args_truncated = 1;
  auto w = reg.write(core::mono_ns());
  ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
  EXPECT_EQ(ev.find("args")->s, "/bin/true a b c ...");
}

TEST(ExitDecoder, ExitCodeOrSignal) {
  core::Registry reg;
  ExitDecoder dec(reg);
  ksight_exit_event e{};
  e.hdr.probe_id = KSIGHT_PROBE_EXIT;
  std::strcpy(e.hdr.comm, "sh");
  e.lifetime_ns = 2'000'000'000;
  core::EventView ev;
  {
    auto w = reg.write(core::mono_ns());
    e.exit_code = 3 << 8;
    ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
    EXPECT_EQ(ev.find("exit_code")->i, 3);
    EXPECT_EQ(ev.find("signal"), nullptr);
    EXPECT_DOUBLE_EQ(ev.find("lifetime_s")->d, 2.0);
    e.exit_code = 9;  // SIGKILL
    ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
    EXPECT_EQ(ev.find("signal")->s, "SIGKILL");
    e.exit_code = 0x80 | 11;  // SIGSEGV with a core dump
    ASSERT_TRUE(dec.decode(bytes(e), w, &ev));
    EXPECT_EQ(ev.find("core_dumped")->u, 1u);
  }
  EXPECT_EQ(value_of(reg, "ksight_process_exits_total", {"sh", "3", ""}), 1);
  EXPECT_EQ(value_of(reg, "ksight_process_exits_total", {"sh", "", "SIGKILL"}), 1);
  EXPECT_EQ(value_of(reg, "ksight_process_exits_total", {"sh", "", "SIGSEGV"}), 1);
}

TEST(Log2Histogram, BoundsFollowTheSharedEncoding) {
  auto d = log2_us_histogram({.name = "x_seconds"});
  const auto& b = d.bounds;
  ASSERT_EQ(b.size(), KSIGHT_LOG2_SLOTS - 1u);  // the last slot is +Inf
  EXPECT_EQ(b[0], 0.0);                         // slot 0: exactly 0 us
  EXPECT_DOUBLE_EQ(b[1], 1e-6);                 // slot 1: exactly 1 us
  EXPECT_DOUBLE_EQ(b[2], 2e-6);                 // slot 2: 2 us
  // At least the 67 s the histograms covered before the slots became
  // upper-inclusive.
  EXPECT_DOUBLE_EQ(b.back(), std::ldexp(1.0, 26) * 1e-6);
  EXPECT_EQ(d.kind, core::MetricKind::histogram);
  EXPECT_EQ(d.log2_unit, 1e-6);
  EXPECT_EQ(d.log2_ucum, "us");
}

TEST(SignalName, KnownAndRealtime) {
  EXPECT_EQ(signal_name(9), "SIGKILL");
  EXPECT_EQ(signal_name(15), "SIGTERM");
  EXPECT_EQ(signal_name(34), "SIG34");
  EXPECT_EQ(signal_name(99), "SIGUNKNOWN");
}

}  // namespace
}  // namespace ksight::probes
