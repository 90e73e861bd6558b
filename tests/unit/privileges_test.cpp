// Capability names, keep lists, /proc status parsing and the privileges
// config keys: everything of least privilege that needs no root.
#include <gtest/gtest.h>

#include <fstream>

#include "config/config.h"
#include "runtime/privileges.h"

namespace ksight::runtime {
namespace {

TEST(CapabilityLists, KeepListsByNameInAnySpelling) {
  auto k = parse_keep_capabilities({"CAP_DAC_READ_SEARCH,cap_bpf", " perfmon "});
  ASSERT_TRUE(k) << k.error();
  EXPECT_EQ(k->mode, KeepCapabilities::Mode::list);
  EXPECT_EQ(k->caps, cap_bit(2) | cap_bit(39) | cap_bit(38));
  EXPECT_EQ(cap_list(k->caps), "CAP_DAC_READ_SEARCH,CAP_PERFMON,CAP_BPF");

  EXPECT_EQ(parse_keep_capabilities({"auto"})->mode, KeepCapabilities::Mode::automatic);
  EXPECT_EQ(parse_keep_capabilities({"ALL"})->mode, KeepCapabilities::Mode::all);
  auto none = parse_keep_capabilities({"none"});
  ASSERT_TRUE(none);
  EXPECT_EQ(none->mode, KeepCapabilities::Mode::list);
  EXPECT_EQ(none->caps, 0u);
  EXPECT_EQ(cap_list(0), "none");
}

TEST(CapabilityLists, BadKeepListsSayWhy) {
  EXPECT_NE(parse_keep_capabilities({"CAP_NOPE"}).error().find("unknown capability 'cap_nope'"),
            std::string::npos);
  EXPECT_NE(parse_keep_capabilities({"none", "bpf"}).error().find("stands alone"),
            std::string::npos);
  EXPECT_FALSE(parse_keep_capabilities({","}));
  EXPECT_FALSE(parse_keep_capabilities({}));
}

TEST(CapabilityLists, ReadsTheFiveSetsOfAStatusFile) {
  const std::string path = ::testing::TempDir() + "/ksight-status";
  {
    std::ofstream f(path);
    f << "Name:\tksight\nCapInh:\t0000000000000000\nCapPrm:\t0000008000000004\n"
         "CapEff:\t0000008000000004\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n";
  }
  auto s = read_capabilities(path);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->effective, cap_bit(2) | cap_bit(39));
  EXPECT_EQ(s->permitted, s->effective);
  EXPECT_EQ(s->bounding, (CapMask{1} << 41) - 1);
  EXPECT_EQ(s->inheritable, 0u);
  EXPECT_EQ(s->ambient, 0u);
  {
    std::ofstream f(path);
    f << "Name:\tksight\n";
  }
  EXPECT_FALSE(read_capabilities(path));
  // This process's own file parses too.
  EXPECT_TRUE(read_capabilities());
}

TEST(CapabilityLists, ConfigKeysAndTheirErrors) {
  auto d = config::parse_config("", "<default>");
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->privileges.keep_capabilities, std::vector<std::string>{"auto"});
  EXPECT_EQ(d->privileges.user, "");
  auto c = config::parse_config(
      "privileges:\n  keep_capabilities: [CAP_DAC_READ_SEARCH, CAP_BPF]\n  user: nobody\n",
      "f.yaml");
  ASSERT_TRUE(c) << c.error();
  EXPECT_EQ(c->privileges.keep_capabilities.size(), 2u);
  EXPECT_EQ(c->privileges.user, "nobody");
  auto bad = config::parse_config("privileges:\n  keep_capabilities: [CAP_NOPE]\n", "f.yaml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("f.yaml: key 'privileges.keep_capabilities': unknown capability"),
            std::string::npos)
      << bad.error();
  auto unknown = config::parse_config("privileges:\n  run_as: x\n", "f.yaml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().find("privileges.run_as"), std::string::npos) << unknown.error();
}

}  // namespace
}  // namespace ksight::runtime
