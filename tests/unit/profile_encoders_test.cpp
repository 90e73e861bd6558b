// The stack profile encoders (issue 15): Frame::display, folded stacks and
// their parser, the flame graph SVG. pprof is in profile_pprof_test.cpp.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <sstream>

#include "profile/flamegraph_svg.h"
#include "profile/folded.h"
#include "profile/stack_profile.h"
#include "unit/profile_test_support.h"

namespace ksight::profile {
namespace {

using testing::kernel_frame;
using testing::sample;
using testing::user_frame;

TEST(FrameDisplay, FunctionThenModuleOffsetThenAddress) {
  Frame f;
  f.function = "std::vector<int>::push_back(int const&)";
  f.module = "/usr/lib/libfoo.so.1";
  f.module_offset = 0x1f4;
  f.address = 0x7f0000001f4;
  EXPECT_EQ(f.display(), "std::vector<int>::push_back(int const&)");
  f.function.clear();
  EXPECT_EQ(f.display(), "libfoo.so.1+0x1f4");
  f.module = "[nf_tables]";
  EXPECT_EQ(f.display(), "[nf_tables]+0x1f4");
  f.module.clear();
  EXPECT_EQ(f.display(), "[unknown]+0x7f0000001f4");
}

// Two processes of one command with the same syscall stack, one with a
// sanitized name and an unsymbolized frame, and another command.
Profile small_cpu_profile() {
  Profile p;
  p.kind = ProfileKind::cpu;
  std::vector<Frame> write_stack = {
      kernel_frame("__x64_sys_write", 0xffffffff81001000),
      kernel_frame("do_syscall_64", 0xffffffff81002000),
      kernel_frame("entry_SYSCALL_64", 0xffffffff81003000),
      user_frame("write", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x7f0000011000),
      user_frame("main", "/usr/bin/app", 0x401000),
      user_frame("__libc_start_main", "/usr/lib/x86_64-linux-gnu/libc.so.6", 0x7f0000012000),
  };
  p.samples.push_back(sample("app", 10, write_stack, 3));
  p.samples.push_back(sample("app", 11, write_stack, 2));
  Frame unknown;
  unknown.module = "/usr/lib/libfoo.so";
  unknown.module_offset = 0x1f4;
  unknown.address = 0x7f00000001f4;
  p.samples.push_back(sample("app", 10,
                             {unknown, user_frame("a;b\xff", "/usr/bin/app", 0x402000),
                              user_frame("main", "/usr/bin/app", 0x401000)},
                             4));
  p.samples.push_back(sample("bash", 20, {user_frame("main", "/usr/bin/bash", 0x500000)}, 1));
  p.samples[3].workload = "default/web-0";
  return p;
}

TEST(Folded, MergesOrdersAndMarksKernelFrames) {
  EXPECT_EQ(folded(small_cpu_profile()),
            "app;__libc_start_main;main;write;entry_SYSCALL_64_[k];do_syscall_64_[k];"
            "__x64_sys_write_[k] 5\n"
            "app;main;a:b\xEF\xBF\xBD;libfoo.so+0x1f4 4\n"
            "bash;main 1\n");
}

TEST(Folded, OptionsPidWorkloadAndNoKernelSuffix) {
  FoldedOptions o;
  o.kernel_suffix = false;
  o.process_frame = ProcessFrame::comm_dash_pid;
  o.workload_root = true;
  EXPECT_EQ(folded(small_cpu_profile(), o),
            "app-10;__libc_start_main;main;write;entry_SYSCALL_64;do_syscall_64;"
            "__x64_sys_write 3\n"
            "app-10;main;a:b\xEF\xBF\xBD;libfoo.so+0x1f4 4\n"
            "app-11;__libc_start_main;main;write;entry_SYSCALL_64;do_syscall_64;"
            "__x64_sys_write 2\n"
            "default/web-0;bash-20;main 1\n");
  o.process_frame = ProcessFrame::comm_paren_pid;
  o.workload_root = false;
  std::string text = folded(small_cpu_profile(), o);
  EXPECT_NE(text.find("bash (20);main 1\n"), std::string::npos) << text;
}

TEST(Folded, FrameNamesCannotBreakTheFormat) {
  EXPECT_EQ(folded_frame_name("a;b"), "a:b");
  EXPECT_EQ(folded_frame_name("line\nbreak\ttab\x7f"), "line?break?tab?");
  EXPECT_EQ(folded_frame_name("\xff\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(folded_frame_name("worker 12"), "worker_12");
  EXPECT_EQ(folded_frame_name("f(int, char) const"), "f(int, char) const");  // spaces stay
  EXPECT_EQ(folded_frame_name("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(folded_frame_name(""), "[unknown]");

  Profile p;
  p.samples.push_back(sample("evil;comm\n9", 1, {user_frame("x 7", "/bin/x", 1)}, 2));
  EXPECT_EQ(folded(p), "evil:comm?9;x_7 2\n");
}

TEST(Folded, OffcpuWeighsMicrosecondsMergedBeforeDividing) {
  Profile p;
  p.kind = ProfileKind::offcpu;
  std::vector<Frame> sleep = {kernel_frame("schedule", 0xffffffff81000100),
                              user_frame("nanosleep", "/lib/libc.so.6", 0x7f0000000100)};
  // 600 ns twice: 1 µs only once merged (each alone rounds down to 0).
  p.samples.push_back(sample("sleeper", 5, sleep, 1, 600));
  p.samples.push_back(sample("sleeper", 6, sleep, 1, 600));
  p.samples.push_back(sample("sleeper", 5, {user_frame("brief", "/bin/s", 0x10)}, 1, 400));
  p.samples.push_back(sample("waiter", 7, {user_frame("poll", "/bin/w", 0x20)}, 3, 2'500'000));
  EXPECT_EQ(folded(p), "sleeper;nanosleep;schedule_[k] 1\nwaiter;poll 2500\n");
}

TEST(ParseFolded, RoundTripsFoldedOutput) {
  auto stacks = parse_folded(folded(small_cpu_profile()));
  ASSERT_EQ(stacks.size(), 3u);
  EXPECT_EQ(stacks[0].first, (std::vector<std::string>{"app", "__libc_start_main", "main", "write",
                                                       "entry_SYSCALL_64_[k]", "do_syscall_64_[k]",
                                                       "__x64_sys_write_[k]"}));
  EXPECT_EQ(stacks[0].second, 5u);
  EXPECT_EQ(stacks[1].first,
            (std::vector<std::string>{"app", "main", "a:b\xEF\xBF\xBD", "libfoo.so+0x1f4"}));
  EXPECT_EQ(stacks[1].second, 4u);
  EXPECT_EQ(stacks[2].first, (std::vector<std::string>{"bash", "main"}));
  EXPECT_EQ(stacks[2].second, 1u);
}

TEST(ParseFolded, SkipsMalformedLinesAndAcceptsCrLf) {
  auto stacks = parse_folded(
      "a;f(int, char) 3\r\n"
      "no weight\n"
      "\n"
      " 5\n"
      "b;c 12x\n"
      "d 18446744073709551615\n"
      "e;f 7");
  ASSERT_EQ(stacks.size(), 3u);
  EXPECT_EQ(stacks[0].first, (std::vector<std::string>{"a", "f(int, char)"}));
  EXPECT_EQ(stacks[0].second, 3u);
  EXPECT_EQ(stacks[1].second, 18446744073709551615ull);
  EXPECT_EQ(stacks[2].first, (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ(stacks[2].second, 7u);
}

struct SvgFrame {
  int depth = 0;
  double x = 0;
  double width = 0;
  std::string title;
};

// Parses the SVG with python3's XML parser (which rejects anything not
// well-formed) and lists the frames it holds.
std::optional<std::vector<SvgFrame>> parse_svg_frames(const std::string& svg, std::string* error) {
  testing::ScratchDir dir;
  std::string file = dir.write("graph.svg", svg);
  std::string script = dir.write("frames.py", R"PY(
import sys, xml.etree.ElementTree as E
svg = '{http://www.w3.org/2000/svg}'
for g in E.parse(sys.argv[1]).getroot().iter(svg + 'g'):
    if g.get('class') == 'f':
        print(g.get('data-d'), g.find(svg + 'rect').get('x'), g.find(svg + 'rect').get('width'),
              g.find(svg + 'title').text, sep='\t')
)PY");
  auto r = testing::run_command("PYTHONIOENCODING=utf-8 " + testing::python3() + " " + script +
                                " " + file);
  if (r.exit_code != 0) {
    *error = r.output;
    return std::nullopt;
  }
  std::vector<SvgFrame> frames;
  std::istringstream lines(r.output);
  std::string line;
  while (std::getline(lines, line)) {
    SvgFrame f;
    std::istringstream fields(line);
    std::string depth, x, width;
    std::getline(fields, depth, '\t');
    std::getline(fields, x, '\t');
    std::getline(fields, width, '\t');
    std::getline(fields, f.title);
    f.depth = std::stoi(depth);
    f.x = std::stod(x);
    f.width = std::stod(width);
    frames.push_back(f);
  }
  return frames;
}

// "name (1,234 samples, 12.34%)" -> 1234
uint64_t title_count(const std::string& title) {
  size_t open = title.rfind(" (");
  std::string digits;
  for (size_t i = open + 2; i < title.size() && title[i] != ' '; ++i)
    if (title[i] != ',') digits += title[i];
  return std::stoull(digits);
}

class FlamegraphSvg : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::python3().empty())
      GTEST_SKIP() << "python3 is not on PATH (scripts/setup installs it)";
  }
};

TEST_F(FlamegraphSvg, WellFormedWithATitlePerFrameAndProportionalWidths) {
  Profile p = small_cpu_profile();
  p.samples[0].frames[3].function = "std::map<int, \"q\">::at<'&'>";  // markup in a name
  SvgOptions o;
  o.title = "CPU <profile> & \"friends\"";
  o.subtitle = "ksight trace profile -F 99";
  std::string svg = flamegraph_svg(p, o);
  for (const char* part :
       {"<script", "fg_init", ">Search</text>", ">Reset Zoom</text>", "Matched: ", "new RegExp(",
        "CPU &lt;profile&gt; &amp; &quot;friends&quot;"})
    EXPECT_NE(svg.find(part), std::string::npos) << part;

  std::string error;
  auto frames = parse_svg_frames(svg, &error);
  ASSERT_TRUE(frames) << error;
  std::map<std::string, const SvgFrame*> by_name;
  for (const SvgFrame& f : *frames) by_name[f.title.substr(0, f.title.rfind(" ("))] = &f;

  // Every frame of every stack, by its folded name.
  for (const auto& [stack, weight] : parse_folded(folded(p)))
    for (const std::string& name : stack) EXPECT_TRUE(by_name.count(name)) << name;
  ASSERT_TRUE(by_name.count("all"));
  EXPECT_EQ(by_name["all"]->title, "all (10 samples, 100.00%)");
  EXPECT_EQ(by_name["bash"]->title, "bash (1 samples, 10.00%)");
  EXPECT_TRUE(by_name.count("std::map<int, \"q\">::at<'&'>"));

  // Widths: the root spans the graph, each frame its share of it, and the
  // frames of the first level add up to the root.
  const double graph_width = 1200 - 2 * 10;
  EXPECT_NEAR(by_name["all"]->width, graph_width, 0.01);
  double level1 = 0;
  for (const SvgFrame& f : *frames) {
    EXPECT_NEAR(f.width, graph_width * static_cast<double>(title_count(f.title)) / 10, 0.01)
        << f.title;
    if (f.depth == 1) level1 += f.width;
  }
  EXPECT_NEAR(level1, graph_width, 0.02);
  // Siblings side by side in name order: "app" then "bash".
  EXPECT_NEAR(by_name["bash"]->x, by_name["app"]->x + by_name["app"]->width, 0.02);
}

TEST_F(FlamegraphSvg, EscapesWhatXmlForbidsAndLeavesOutNarrowFrames) {
  std::string svg = flamegraph_svg_from_folded(
      "bad\x01name;\xff\xfe;tail\xEF\xBF\xBF 1000000\n"
      "tiny;frame 1\n");
  std::string error;
  auto frames = parse_svg_frames(svg, &error);
  ASSERT_TRUE(frames) << error;
  std::vector<std::string> titles;
  for (const SvgFrame& f : *frames) titles.push_back(f.title);
  EXPECT_EQ(titles, (std::vector<std::string>{
                        "all (1,000,001 samples, 100.00%)", "bad?name (1,000,000 samples, 100.00%)",
                        "\xEF\xBF\xBD\xEF\xBF\xBD (1,000,000 samples, 100.00%)",
                        "tail\xEF\xBF\xBD (1,000,000 samples, 100.00%)"}));
  EXPECT_NE(svg.find("2 frames narrower than 0.10 px not drawn"), std::string::npos);
}

TEST_F(FlamegraphSvg, EmptyProfileIsStillADocument) {
  std::string svg = flamegraph_svg(Profile{});
  std::string error;
  auto frames = parse_svg_frames(svg, &error);
  ASSERT_TRUE(frames) << error;
  EXPECT_TRUE(frames->empty());
  EXPECT_NE(svg.find("No stacks in this profile"), std::string::npos);
}

}  // namespace
}  // namespace ksight::profile
