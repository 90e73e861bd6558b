// The collector between a stack probe and the encoders, on a fake source:
// drains once per interval and adds them up, keeps what the filter keeps,
// remembers noticed processes, trims the tracing glue off offcpu stacks.
#include "runtime/stack_collector.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ksight::runtime {
namespace {

class FakeSource : public probes::StackSource {
 public:
  std::vector<std::vector<profile::RawStack>> drains;  // one per drain_stacks() call
  size_t drained = 0;
  std::function<void(uint32_t)> callback;
  bool active = true;

  std::expected<std::vector<profile::RawStack>, std::string> drain_stacks() override {
    if (drained < drains.size()) return drains[drained++];
    ++drained;
    return std::vector<profile::RawStack>{};
  }
  void set_new_process_callback(std::function<void(uint32_t)> f) override {
    callback = std::move(f);
  }
  std::expected<void, std::string> set_active(bool a) override {
    active = a;
    return {};
  }
  profile::ProfileKind kind() const override { return profile::ProfileKind::offcpu; }
  uint64_t period_ns() const override { return 0; }
};

// A kallsyms with a scheduler function and the BPF glue above it.
struct Kallsyms {
  std::string path = "/tmp/ksight-collector-kallsyms-" + std::to_string(::getpid());
  Kallsyms() {
    std::ofstream(path) << "ffffffff81000000 T _stext\n"
                           "ffffffff81001000 T schedule\n"
                           "ffffffff81002000 T bpf_trace_run4\n"
                           "ffffffff81003000 t bpf_prog_6e1f_offcpu_sched_switch\n"
                           "ffffffff81004000 T do_nanosleep\n";
  }
  ~Kallsyms() { std::filesystem::remove(path); }
};

profile::RawStack raw(uint32_t pid, uint64_t ns) {
  return {.pid = pid,
          .cgroup_id = 1,
          .comm = "sleeper",
          .kernel_ips = {0xffffffff81003010, 0xffffffff81002010, 0xffffffff81001010,
                         0xffffffff81004010},
          .user_ips = {},
          .count = 1,
          .value_ns = ns};
}

TEST(StackCollector, DrainsPerIntervalAddsUpFiltersAndTrimsTheGlue) {
  Kallsyms ks;
  profile::Symbolizer::Options o;
  o.kallsyms_path = ks.path;
  o.modules_path = "/dev/null";
  profile::Symbolizer symbolizer(o);
  FakeSource source;
  source.drains = {{raw(10, 1000), raw(11, 5)}, {raw(10, 2000)}};
  StackCollector collector(
      source, symbolizer,
      {.drain_interval_ns = 1000,
       .keep = [](const profile::RawStack& s) { return s.pid == 10; },
       .workload_of = [](uint64_t id) { return "unit-" + std::to_string(id); }});
  ASSERT_TRUE(source.callback);
  source.callback(::getpid());  // noticed on the "dispatcher"
  collector.poll(5000);         // drain 1
  collector.poll(5500);         // within the interval: no drain
  EXPECT_EQ(source.drained, 1u);
  auto p = collector.finish(123, 456);  // drain 2, then symbolize
  EXPECT_EQ(source.drained, 2u);
  EXPECT_EQ(p.kind, profile::ProfileKind::offcpu);
  EXPECT_EQ(p.start_unix_ns, 123);
  EXPECT_EQ(p.duration_ns, 456u);
  ASSERT_EQ(p.samples.size(), 1u);  // pid 11 filtered out; pid 10's two drains merged
  const auto& s = p.samples[0];
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.value_ns, 3000u);
  EXPECT_EQ(s.workload, "unit-1");
  // The BPF program and bpf_trace_run4 are gone: the leaf is where it blocked.
  ASSERT_EQ(s.frames.size(), 2u);
  EXPECT_EQ(s.frames[0].function, "schedule");
  EXPECT_EQ(s.frames[1].function, "do_nanosleep");
  auto st = collector.stats();
  EXPECT_EQ(st.processes_noticed, 1u);
  EXPECT_EQ(st.drains, 2u);
  EXPECT_EQ(symbolizer.stats().processes_remembered, 1u);
}

TEST(StackCollector, ClearsTheCallbackWhenItGoes) {
  profile::Symbolizer symbolizer;
  FakeSource source;
  {
    StackCollector collector(source, symbolizer, {});
    EXPECT_TRUE(source.callback);
  }
  EXPECT_FALSE(source.callback);
}

}  // namespace
}  // namespace ksight::runtime
