// ksight top's model: rates per process or cgroup from events and counter
// deltas, and the table sorted by the chosen column.
#include "cli/top_model.h"

#include <gtest/gtest.h>

namespace ksight::cli {
namespace {

core::EventView event(std::string_view probe, uint32_t pid, std::string_view comm,
                      uint64_t cgroup) {
  core::EventView ev;
  ev.probe = probe;
  ev.pid = pid;
  ev.comm = comm;
  ev.cgroup_id = cgroup;
  return ev;
}

TEST(TopModel, RatesPerProcessFromEventsAndCounterDeltas) {
  core::Registry reg;
  auto samples = reg.add({.name = "ksight_process_cpu_samples_total",
                          .help = "h",
                          .kind = core::MetricKind::counter,
                          .label_names = {"pid", "comm", "mode"}});
  TopModel model(TopGroup::process, 100);
  {
    auto w = reg.write(1);
    w.add(samples, {"42", "busy", "user"}, 1000);  // before the first interval
  }
  auto none = [](uint64_t) { return std::string(); };
  model.tick(reg.collect(1), 1, none);  // the baseline
  {
    auto w = reg.write(2);
    w.add(samples, {"42", "busy", "user"}, 150);   // 150 samples in 2 s at 100 Hz: 75%
    w.add(samples, {"42", "busy", "kernel"}, 50);  // plus 25%
  }
  for (int i = 0; i < 6; ++i) model.on_event(event("exec", 7, "sh", 1));
  model.on_event(event("open", 42, "busy", 1));
  core::EventView open = event("tcp", 42, "busy", 1);
  open.add_str("event", "connect");
  model.on_event(open);
  core::EventView close = event("tcp", 42, "busy", 1);
  close.add_str("event", "close");
  close.add_u64("tx_bytes", 3072);
  close.add_u64("rx_bytes", 1024);
  model.on_event(close);
  auto rows = model.tick(reg.collect(2), 2, none);
  ASSERT_EQ(rows.size(), 2u);
  const TopRow& busy = rows[0].key == "42" ? rows[0] : rows[1];
  const TopRow& sh = rows[0].key == "7" ? rows[0] : rows[1];
  EXPECT_EQ(busy.name, "busy");
  EXPECT_DOUBLE_EQ(busy[TopColumn::cpu], 100.0);
  EXPECT_DOUBLE_EQ(busy[TopColumn::opens], 0.5);
  EXPECT_DOUBLE_EQ(busy[TopColumn::tcp], 0.5);
  EXPECT_DOUBLE_EQ(busy[TopColumn::bytes], 2.0);  // 4 KiB over 2 s
  EXPECT_DOUBLE_EQ(sh[TopColumn::execs], 3.0);
  EXPECT_EQ(sh.name, "sh");
  // Nothing new: the next interval is empty.
  EXPECT_TRUE(model.tick(reg.collect(3), 1, none).empty());
}

TEST(TopModel, ContainersAreNamedByCgroupPath) {
  core::Registry reg;
  TopModel model(TopGroup::container, 99);
  model.on_event(event("exec", 1, "a", 1234));
  auto rows = model.tick(reg.collect(1), 1, [](uint64_t id) {
    return id == 1234 ? std::string("/kubepods/pod1/c1") : std::string("(gone)");
  });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, "1234");
  EXPECT_EQ(rows[0].name, "/kubepods/pod1/c1");
}

TEST(TopModel, PodsSumTheirCgroups) {
  core::Registry reg;
  TopModel model(TopGroup::pod, 99);
  for (uint64_t cg : {10, 11, 11, 20}) model.on_event(event("exec", 1, "a", cg));
  auto rows = model.tick(reg.collect(1), 1, [](uint64_t id) {
    return id < 20 ? std::string("payments/api-1") : std::string("(not in a pod)");
  });
  ASSERT_EQ(rows.size(), 2u);
  const TopRow& api = rows[0].name == "payments/api-1" ? rows[0] : rows[1];
  EXPECT_EQ(api.key, "2") << "two cgroups (pod and container level) in one row";
  EXPECT_DOUBLE_EQ(api[TopColumn::execs], 3.0);
  EXPECT_NE(render_top(rows, TopGroup::pod, TopColumn::execs, 10, "").find("CGROUPS"),
            std::string::npos);
}

TEST(TopModel, TableIsSortedByTheChosenColumnAndCapped) {
  std::vector<TopRow> rows(3);
  rows[0] = {"1", "low", {}};
  rows[1] = {"2", "high", {}};
  rows[2] = {"3", "mid", {}};
  rows[0].values[static_cast<size_t>(TopColumn::syscalls)] = 1;
  rows[1].values[static_cast<size_t>(TopColumn::syscalls)] = 100;
  rows[2].values[static_cast<size_t>(TopColumn::syscalls)] = 10;
  std::string t = render_top(rows, TopGroup::process, TopColumn::syscalls, 2, "");
  EXPECT_NE(t.find("*SYSCALLS/s"), std::string::npos) << t;
  EXPECT_LT(t.find("high"), t.find("mid"));
  EXPECT_EQ(t.find("low"), std::string::npos) << "more rows than asked for";
  EXPECT_FALSE(top_column_from_string("nope"));
  EXPECT_EQ(top_column_from_string("retrans"), TopColumn::retrans);
}

}  // namespace
}  // namespace ksight::cli
