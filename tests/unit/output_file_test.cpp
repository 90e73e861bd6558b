// Output files (events, OTLP): 0640, no symlinks, reopen after a rename,
// and a failed write counted instead of fatal (issue 12).
#include "export/output_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/event.h"
#include "export/jsonlines.h"

namespace ksight::exporters {
namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/ksight-unit-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& n) const { return path + "/" + n; }
};

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(OutputFile, CreatedPrivateAndAppendedTo) {
  Dir d;
  auto f = OutputFile::open(d.file("events.json"));
  ASSERT_TRUE(f) << f.error();
  ASSERT_TRUE((*f)->write("a\n"));
  struct stat st {};
  ASSERT_EQ(::stat(d.file("events.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0137, 0u) << std::oct << (st.st_mode & 0777);  // at most 0640 (umask)
  auto again = OutputFile::open(d.file("events.json"));
  ASSERT_TRUE(again);
  ASSERT_TRUE((*again)->write("b\n"));
  EXPECT_EQ(slurp(d.file("events.json")), "a\nb\n");
}

TEST(OutputFile, RefusesASymlinkWithOneClearLine) {
  Dir d;
  ASSERT_EQ(::symlink(d.file("target").c_str(), d.file("link").c_str()), 0);
  auto f = OutputFile::open(d.file("link"));
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().find("symbolic link"), std::string::npos) << f.error();
  EXPECT_EQ(f.error().find('\n'), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(d.file("target")));
}

TEST(OutputFile, ReopenAfterRenameWritesANewFile) {
  Dir d;
  auto f = OutputFile::open(d.file("e"));
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->write("old\n"));
  std::filesystem::rename(d.file("e"), d.file("e.1"));
  ASSERT_TRUE((*f)->reopen());
  ASSERT_TRUE((*f)->write("new\n"));
  EXPECT_EQ(slurp(d.file("e.1")), "old\n");
  EXPECT_EQ(slurp(d.file("e")), "new\n");
}

// /dev/full: every write fails with ENOSPC, as on a full disk.
TEST(OutputFile, FailedWritesAreCountedAndLoseOnlyTheirEvents) {
  auto f = OutputFile::open("/dev/full");
  ASSERT_TRUE(f) << f.error();
  JsonLinesSink sink(**f);
  core::EventView ev;
  ev.probe = "exec";
  ev.comm = "x";
  for (int batch = 0; batch < 3; ++batch) {
    sink.on_event(ev);
    sink.on_event(ev);
    sink.on_batch_end();
  }
  EXPECT_EQ((*f)->write_errors(), 3u);
  EXPECT_EQ(sink.dropped(), 6u);
}

}  // namespace
}  // namespace ksight::exporters
