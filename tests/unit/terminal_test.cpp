// What `ksight trace` and `ksight top` put on the operator's terminal: never a
// control character a traced process chose (issue 12).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "cli/histogram_printer.h"
#include "cli/top_model.h"
#include "cli/trace_printer.h"
#include "core/clock.h"
#include "core/registry.h"

namespace ksight::cli {
namespace {

// A process that names itself like this clears the screen and retitles the window.
constexpr std::string_view kHostile = "\x1b[2J\x1b]0;owned\x07\xff";

bool has_control(const std::string& s) {
  for (unsigned char c : s)
    if ((c < 0x20 && c != '\n') || c == 0x7f) return true;
  return false;
}

std::string capture(const std::function<void(std::FILE*)>& fn) {
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  fn(f);
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

core::EventView hostile_event() {
  core::EventView ev;
  ev.probe = "exec";
  ev.time_unix_ns = 1'700'000'000'000'000'000ull;
  ev.pid = 7;
  ev.comm = kHostile;
  ev.add_str("filename", kHostile);
  ev.add_str("args", "echo \x1b[31mred");
  return ev;
}

TEST(TerminalSafety, TraceTextEscapesCommPathsAndArgv) {
  for (bool one_probe : {true, false}) {
    static constexpr std::string_view kColumns[] = {"filename", "args"};
    std::span<const std::string_view> columns;
    if (one_probe) columns = kColumns;
    std::string out = capture([&](std::FILE* f) {
      TracePrinter p(f, TracePrinter::Format::text, columns, 0);
      p.on_event(hostile_event());
      p.on_batch_end();
    });
    EXPECT_FALSE(has_control(out)) << out;
    EXPECT_NE(out.find("\\x1b[2J\\x1b]0;owned\\x07\\xff"), std::string::npos) << out;
    EXPECT_NE(out.find("echo \\x1b[31mred"), std::string::npos) << out;
  }
}

TEST(TerminalSafety, TopAndCounterTablesEscapeNames) {
  TopRow row{"7", std::string(kHostile), {}};
  row.values[0] = 50;
  std::string top = render_top({row}, TopGroup::process, TopColumn::cpu, 10, "");
  EXPECT_FALSE(has_control(top)) << top;
  EXPECT_NE(top.find("owned\\x07\\xff"), std::string::npos) << top;

  core::Registry reg;
  auto fam = reg.add({.name = "ksight_x_total", .help = "x", .label_names = {"comm"}});
  reg.write(core::mono_ns()).add(fam, {kHostile}, 3);
  std::string table = capture([&](std::FILE* f) {
    print_counter_table(f, reg.collect(core::mono_ns()), "ksight_x_total");
  });
  EXPECT_FALSE(has_control(table)) << table;
  EXPECT_NE(table.find("\\x1b[2J"), std::string::npos) << table;
}

}  // namespace
}  // namespace ksight::cli
