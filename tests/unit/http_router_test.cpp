// The HTTP endpoint's answers without a socket: routing, basic-auth parsing
// and its verdict cache, and the one-collect-per-interval scrape path.
#include "export/http_router.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ksight::exporters {
namespace {

using namespace std::chrono_literals;

TEST(HttpRouter, RoutesMethodsAndPaths) {
  core::Registry reg;
  HttpRouter r(
      reg,
      [] {
        return Readiness{false, "probe open is off\n"};
      },
      {}, 0);
  EXPECT_EQ(r.handle({.method = "POST", .path = "/metrics"}).status, 405u);
  EXPECT_EQ(r.handle({.method = "GET", .path = "/nothing"}).status, 404u);
  EXPECT_EQ(*r.handle({.method = "GET", .path = "/healthz"}).body, "ok\n");
  auto ready = r.handle({.method = "GET", .path = "/readyz"});
  EXPECT_EQ(ready.status, 503u);
  EXPECT_EQ(*ready.body, "not ready\nprobe open is off\n");
  auto m = r.handle({.method = "HEAD", .path = "/metrics?x=1"});
  EXPECT_EQ(m.status, 200u);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(m.body->find("ksight_scrape_collects_total 1"), std::string::npos) << *m.body;
  EXPECT_EQ(r.scrapes(), 1u);
}

TEST(HttpRouter, ParsesBasicAuth) {
  auto p = parse_basic_auth("Basic YWxpY2U6czNjcjpldA==");  // alice:s3cr:et
  ASSERT_TRUE(p);
  EXPECT_EQ(p->first, "alice");
  EXPECT_EQ(p->second, "s3cr:et");
  EXPECT_TRUE(parse_basic_auth("basic   YTo="));  // "a:"
  EXPECT_FALSE(parse_basic_auth(""));
  EXPECT_FALSE(parse_basic_auth("Bearer YTo="));
  EXPECT_FALSE(parse_basic_auth("Basic YWxpY2U="));  // no colon
  EXPECT_FALSE(parse_basic_auth("Basic Y!o="));      // not base64
  EXPECT_FALSE(parse_basic_auth("Basic YTo9Y"));     // a stray sextet
}

TEST(HttpRouter, AuthVerdictsAreCachedPerCredentialAndBounded) {
  std::atomic<int> checks{0};
  AuthCache cache({{"alice", "HASH"}}, 8, [&](const std::string& pw, const std::string& hash) {
    ++checks;
    return hash == "HASH" && pw == "right";
  });
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(cache.allowed("alice", "right"));
  EXPECT_EQ(checks.load(), 1);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(cache.allowed("alice", "wrong"));
  EXPECT_EQ(checks.load(), 2);
  EXPECT_FALSE(cache.allowed("mallory", "right"));  // unknown users cost nothing
  EXPECT_EQ(checks.load(), 2);
  // A wrong password never borrows the right one's verdict, however many
  // distinct guesses churn the bounded cache.
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(cache.allowed("alice", "guess" + std::to_string(i)));
  EXPECT_EQ(checks.load(), 102);
  EXPECT_TRUE(cache.allowed("alice", "right"));
  EXPECT_EQ(cache.checks(), static_cast<uint64_t>(checks.load()));
}

TEST(HttpRouter, MetricsNeedTheRightCredential) {
  core::Registry reg;
  HttpRouter r(reg, {}, {{"alice", "$2b$05$invalidinvalidinvalidinvalidinvalidinvalidinvalid"}}, 0);
  auto res = r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(res.status, 401u);
  EXPECT_TRUE(res.auth_challenge);
  EXPECT_EQ(r.handle({.method = "GET", .path = "/metrics", .authorization = "Basic YTo="}).status,
            401u);
  EXPECT_EQ(r.handle({.method = "GET", .path = "/healthz"}).status, 200u);
  EXPECT_EQ(r.collects(), 0u);  // nothing rendered for the unauthorized
}

TEST(HttpRouter, ScrapesWithinTheIntervalShareOneCollect) {
  core::Registry reg;
  std::atomic<uint64_t> now{1'000'000'000};
  HttpRouter r(reg, {}, {}, 1'000'000'000, [&] { return now.load(); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) r.handle({.method = "GET", .path = "/metrics"});
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(r.scrapes(), 400u);
  EXPECT_EQ(r.collects(), 1u);
  now += 999'999'999;
  r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(r.collects(), 1u);
  now += 1;
  auto m = r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(r.collects(), 2u);
  EXPECT_NE(m.body->find("ksight_scrape_collects_total 2"), std::string::npos) << *m.body;
}

std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);  // gzip wrapper only
  std::string out(in.size() * 50 + 1024, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  inflateEnd(&zs);
  out.resize(zs.total_out);
  return out;
}

std::string header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

TEST(HttpRouter, GzipWhenAcceptedCompressedOncePerInterval) {
  core::Registry reg;
  auto id = reg.add({.name = "ksight_t_total", .help = "T.", .label_names = {"comm"}});
  {
    auto w = reg.write(1);
    for (int i = 0; i < 500; ++i) w.add(id, {"comm" + std::to_string(i)}, i);
  }
  uint64_t now = 1'000'000'000;
  HttpRouter r(reg, {}, {}, 1'000'000'000, [&] { return now; });
  auto plain = r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(header(plain, "Content-Encoding"), "");
  EXPECT_EQ(header(plain, "Vary"), "Accept-Encoding");
  auto gz1 =
      r.handle({.method = "GET", .path = "/metrics", .accept_encoding = "deflate, gzip;q=0.8"});
  auto gz2 = r.handle({.method = "GET", .path = "/metrics", .accept_encoding = "GZIP"});
  EXPECT_EQ(header(gz1, "Content-Encoding"), "gzip");
  EXPECT_EQ(gunzip(*gz1.body), *plain.body);
  EXPECT_LT(gz1.body->size(), plain.body->size() / 4);
  // The second scraper shares the first one's compressed copy.
  EXPECT_EQ(gz1.body.get(), gz2.body.get());
  EXPECT_EQ(r.collects(), 1u);
  // A new interval: a new body, compressed again, still the plain one inside.
  now += 1'000'000'000;
  auto gz3 = r.handle({.method = "GET", .path = "/metrics", .accept_encoding = "gzip"});
  EXPECT_EQ(r.collects(), 2u);
  EXPECT_NE(gz3.body.get(), gz1.body.get());
  auto plain2 = r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(gunzip(*gz3.body), *plain2.body);
  EXPECT_NE(plain2.body->find("ksight_scrape_collects_total 2"), std::string::npos);
  // Refused explicitly: plain.
  auto refused = r.handle({.method = "GET", .path = "/metrics", .accept_encoding = "gzip;q=0"});
  EXPECT_EQ(header(refused, "Content-Encoding"), "");
  EXPECT_EQ(refused.body.get(), plain2.body.get());
}

TEST(HttpRouter, ParsesAcceptEncoding) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));
  EXPECT_TRUE(accepts_gzip("br ,  GZip ; q=0.5"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("gzip;q=1"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("deflate, br"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip; q=0.000"));
  EXPECT_FALSE(accepts_gzip("gzipx"));
}

TEST(HttpRouter, ConcurrentSlowCollectsRunOncePerInterval) {
  core::Registry reg;
  std::atomic<int> refreshes{0};
  reg.add_refresher([&](core::Registry::Writer&) {
    ++refreshes;
    std::this_thread::sleep_for(50ms);  // an expensive collect
  });
  const uint64_t interval = 200'000'000;
  HttpRouter r(reg, {}, {}, interval);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      while (std::chrono::steady_clock::now() - start < 1s)
        r.handle({.method = "GET", .path = "/metrics"});
    });
  for (auto& t : threads) t.join();
  auto elapsed = std::chrono::steady_clock::now() - start;
  // One collect per interval, plus the one in flight when the last ends.
  auto bound = static_cast<int>(elapsed / std::chrono::nanoseconds(interval)) + 1;
  EXPECT_LE(refreshes.load(), bound);
  EXPECT_GE(refreshes.load(), 1);
  EXPECT_GT(r.scrapes(), static_cast<uint64_t>(4 * refreshes.load()));
}

TEST(HttpRouter, ZeroIntervalCollectsEveryScrape) {
  core::Registry reg;
  HttpRouter r(reg, {}, {}, 0);
  for (int i = 0; i < 5; ++i) r.handle({.method = "GET", .path = "/metrics"});
  EXPECT_EQ(r.collects(), 5u);
}

TEST(HttpRouter, ParsesQueryStrings) {
  auto q = parse_query("/x?seconds=5&pod=api%2D1&flag&a=b+c&a=last");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->at("seconds"), "5");
  EXPECT_EQ(q->at("pod"), "api-1");
  EXPECT_EQ(q->at("flag"), "");
  EXPECT_EQ(q->at("a"), "last");
  EXPECT_TRUE(parse_query("/x")->empty());
  EXPECT_FALSE(parse_query("/x?a=%2"));
  EXPECT_FALSE(parse_query("/x?a=%zz"));
}

TEST(HttpRouter, ProfileRouteValidatesAndAuthenticates) {
  core::Registry reg;
  HttpRouter r(
      reg, {}, {{"alice", "HASH"}}, 0, {},
      [](const std::string& pw, const std::string& hash) { return hash == "HASH" && pw == "pw"; });
  // No handler: the path does not exist.
  EXPECT_EQ(r.handle({.method = "GET", .path = "/debug/pprof/profile"}).status, 404u);
  std::vector<ProfileQuery> seen;
  r.set_profile_handler([&](const ProfileQuery& q) {
    seen.push_back(q);
    return HttpResponse{.status = 200};
  });
  const std::string_view alice = "Basic YWxpY2U6cHc=";  // alice:pw
  EXPECT_EQ(r.handle({.method = "GET", .path = "/debug/pprof/profile"}).status, 401u);
  EXPECT_TRUE(seen.empty());
  EXPECT_EQ(
      r.handle({.method = "GET", .path = "/debug/pprof/profile", .authorization = alice}).status,
      200u);
  EXPECT_EQ(r.handle({.method = "GET",
                      .path = "/debug/pprof/profile?seconds=7&pid=42&pod=api&namespace=shop",
                      .authorization = alice})
                .status,
            200u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].seconds, 30u);  // Go's default
  EXPECT_EQ(seen[1].seconds, 7u);
  EXPECT_EQ(seen[1].pid, 42u);
  EXPECT_EQ(seen[1].pod, "api");
  EXPECT_EQ(seen[1].ns, "shop");
  for (const char* bad :
       {"?seconds=0", "?seconds=301", "?seconds=1e3", "?pid=-1", "?pid=", "?hz=99", "?seconds=%"}) {
    auto res = r.handle({.method = "GET",
                         .path = std::string("/debug/pprof/profile") + bad,
                         .authorization = alice});
    EXPECT_EQ(res.status, 400u) << bad;
  }
  EXPECT_EQ(seen.size(), 2u);
}

}  // namespace
}  // namespace ksight::exporters
