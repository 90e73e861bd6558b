// pprof encoding (issue 15): the bytes decoded back with the generated
// message, and read by the real `go tool pprof`.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <sstream>

#include "pprof/profile.pb.h"
#include "profile/pprof.h"
#include "unit/profile_test_support.h"

namespace ksight::profile {
namespace {

using testing::kernel_frame;
using testing::sample;
using testing::user_frame;
namespace pb = perftools::profiles;

std::string gunzip(const std::string& gz) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);  // gzip only: a zlib header is an error
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  std::string out;
  char buf[16384];
  int r;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    r = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (r == Z_OK);
  inflateEnd(&zs);
  EXPECT_EQ(r, Z_STREAM_END);
  return out;
}

pb::Profile decode(const std::string& gz) {
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromString(gunzip(gz)));
  return p;
}

// Where a frame is: kernel leaf, user frames in two modules, one shared.
Profile two_process_profile() {
  Profile p;
  p.kind = ProfileKind::cpu;
  p.period_ns = 10'101'010;  // 99 Hz
  p.start_unix_ns = 1'700'000'000'000'000'000;
  p.duration_ns = 5'000'000'000;
  Frame hot = user_frame("hot", "/usr/bin/app", 0x401100, "aa11");
  Frame main = user_frame("main", "/usr/bin/app", 0x401000, "aa11");
  Frame libc = user_frame("read", "/lib/libc.so.6", 0x7f0000001000, "cc22");
  p.samples.push_back(sample("app", 10, {hot, main}, 7, 7 * p.period_ns));
  p.samples.push_back(sample("app", 10, {kernel_frame("ksys_read", 0xffffffff81000010), libc, main},
                             2, 2 * p.period_ns));
  p.samples.push_back(sample("app", 11, {hot, main}, 1, p.period_ns));
  p.samples[2].workload = "shop/api-7";
  return p;
}

std::string str(const pb::Profile& p, int64_t i) {
  return p.string_table(static_cast<int>(i));
}

TEST(Pprof, DecodesToTheSamplesLocationsFunctionsAndMappings) {
  Profile in = two_process_profile();
  std::string gz = pprof_gzip(in);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  pb::Profile p = decode(gz);
  EXPECT_EQ(gunzip(gz), pprof_bytes(in));

  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(str(p, p.sample_type(0).type()), "samples");
  EXPECT_EQ(str(p, p.sample_type(0).unit()), "count");
  EXPECT_EQ(str(p, p.sample_type(1).type()), "cpu");
  EXPECT_EQ(str(p, p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(str(p, p.period_type().type()), "cpu");
  EXPECT_EQ(p.period(), 10'101'010);
  EXPECT_EQ(p.time_nanos(), in.start_unix_ns);
  EXPECT_EQ(p.duration_nanos(), 5'000'000'000);

  // Names of a sample's frames, leaf first, through location -> line -> function.
  auto names = [&](const pb::Sample& s) {
    std::vector<std::string> out;
    for (uint64_t id : s.location_id()) {
      const pb::Location& loc = p.location(static_cast<int>(id - 1));
      EXPECT_EQ(loc.id(), id);
      EXPECT_EQ(loc.line_size(), 1);
      const pb::Function& f = p.function(static_cast<int>(loc.line(0).function_id() - 1));
      EXPECT_EQ(f.id(), loc.line(0).function_id());
      const pb::Mapping& m = p.mapping(static_cast<int>(loc.mapping_id() - 1));
      out.push_back(str(p, f.name()) + "@" + str(p, m.filename()));
    }
    return out;
  };
  ASSERT_EQ(p.sample_size(), 3);
  EXPECT_EQ(names(p.sample(0)),
            (std::vector<std::string>{"hot@/usr/bin/app", "main@/usr/bin/app"}));
  EXPECT_EQ(names(p.sample(1)),
            (std::vector<std::string>{"ksys_read@[kernel.kallsyms]", "read@/lib/libc.so.6",
                                      "main@/usr/bin/app"}));
  EXPECT_EQ(p.sample(0).location_id(0), p.sample(2).location_id(0));  // one location per address
  EXPECT_EQ(p.location_size(), 4);
  EXPECT_EQ(p.function_size(), 4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(p.sample(i).value_size(), 2);
    EXPECT_EQ(p.sample(i).value(0), static_cast<int64_t>(in.samples[i].count));
    EXPECT_EQ(p.sample(i).value(1), static_cast<int64_t>(in.samples[i].value_ns));
  }

  std::map<std::string, std::string> build_ids;
  for (const pb::Mapping& m : p.mapping()) {
    EXPECT_TRUE(m.has_functions());
    build_ids[str(p, m.filename())] = str(p, m.build_id());
  }
  EXPECT_EQ(build_ids,
            (std::map<std::string, std::string>{
                {"/usr/bin/app", "aa11"}, {"/lib/libc.so.6", "cc22"}, {"[kernel.kallsyms]", ""}}));

  // Labels: pid as a number, comm and workload as strings.
  auto labels = [&](const pb::Sample& s) {
    std::ostringstream out;
    for (const pb::Label& l : s.label()) {
      out << str(p, l.key()) << "=";
      if (l.str() != 0)
        out << str(p, l.str());
      else
        out << l.num();
      out << " ";
    }
    return out.str();
  };
  EXPECT_EQ(labels(p.sample(0)), "pid=10 comm=app ");
  EXPECT_EQ(labels(p.sample(2)), "pid=11 comm=app workload=shop/api-7 ");
}

TEST(Pprof, OffcpuHasItsOwnValueTypeAndPeriodOne) {
  Profile in;
  in.kind = ProfileKind::offcpu;
  in.samples.push_back(
      sample("sleeper", 3, {kernel_frame("schedule", 0xffffffff81000100)}, 2, 3'000'000));
  pb::Profile p = decode(pprof_gzip(in));
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(str(p, p.sample_type(1).type()), "offcpu");
  EXPECT_EQ(str(p, p.period_type().type()), "offcpu");
  EXPECT_EQ(p.period(), 1);
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(p.sample(0).value(1), 3'000'000);
}

// `go tool pprof -top` rows: "flat flat% sum% cum cum% name".
std::map<std::string, std::string> flat_shares(const std::string& top) {
  std::map<std::string, std::string> shares;
  std::istringstream lines(top);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    if (f.size() == 6 && f[1].ends_with('%')) shares[f[5]] = f[1];
  }
  return shares;
}

TEST(Pprof, GoToolPprofReadsItWithTheExpectedShares) {
  if (!testing::on_path("go"))
    GTEST_SKIP() << "go is not on PATH (Debian's golang-go, scripts/setup)";
  Profile in;
  in.kind = ProfileKind::cpu;
  in.period_ns = 10'000'000;
  Frame main = user_frame("main", "/usr/bin/work", 0x401000, "0123abcd");
  in.samples.push_back(sample("work", 42,
                              {user_frame("hot70", "/usr/bin/work", 0x401200, "0123abcd"), main},
                              70, 70 * in.period_ns));
  in.samples.push_back(sample("work", 42,
                              {user_frame("hot30", "/usr/bin/work", 0x401300, "0123abcd"), main},
                              30, 30 * in.period_ns));
  testing::ScratchDir dir;
  std::string file = dir.write("cpu.pb.gz", pprof_gzip(in));
  // A private HOME and cache, and no toolchain download: the tool as Debian ships it.
  std::string env = "HOME=" + dir.path() + " GOCACHE=" + dir.path() +
                    "/gocache GOPATH=" + dir.path() +
                    "/gopath GOTOOLCHAIN=local GOFLAGS= PPROF_TMPDIR=" + dir.path();
  auto started = std::chrono::steady_clock::now();
  auto r = testing::run_command(env + " go tool pprof -top -nodecount=20 " + file);
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto shares = flat_shares(r.output);
  EXPECT_EQ(shares["hot70"], "70.00%") << r.output;
  EXPECT_EQ(shares["hot30"], "30.00%") << r.output;
  EXPECT_NE(r.output.find("Type: cpu"), std::string::npos) << r.output;
  EXPECT_LT(took, std::chrono::seconds(5)) << "go tool pprof is slow to start";
}

}  // namespace
}  // namespace ksight::profile
