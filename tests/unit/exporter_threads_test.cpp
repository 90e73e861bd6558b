// The exporters' own threads against the threads that feed them, over real
// sockets on loopback: the HTTP server's workers scraping a registry that a
// writer keeps updating, and the OTLP sender draining a queue that several
// threads fill. Meant for ThreadSanitizer (make tsan), and checked without it.
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/registry.h"
#include "export/http_server.h"
#include "export/otlp.h"
#include "export/otlp_http.h"

namespace ksight::exporters {
namespace {

using namespace std::chrono_literals;

size_t append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET url; the body, or "" with `status` 0 on a transport error.
std::string http_get(const std::string& url, long* status) {
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  *status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
  curl_easy_cleanup(c);
  return body;
}

// The value of the one series `name` in an exposition, or -1.
double sample(const std::string& body, const std::string& name) {
  auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(body.substr(at + name.size() + 2));
}

TEST(ExporterThreads, ScrapesDuringWritesSeeCountersOnlyGrow) {
  core::Registry reg;
  auto id = reg.add({.name = "t_events_total", .help = "h"});
  HttpOptions opts{.listen = "127.0.0.1:0", .min_scrape_interval_ns = 0};
  HttpServer server(opts, reg, [] { return Readiness{true, ""}; });

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop.load()) {
      auto w = reg.write(core::mono_ns());
      w.add(id, {});
    }
  });
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/metrics";
  std::atomic<int> answered{0}, went_back{0};
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 4; ++t)
    scrapers.emplace_back([&] {
      double last = 0;
      for (int i = 0; i < 25; ++i) {
        long status = 0;
        auto body = http_get(url, &status);
        if (status != 200) continue;
        double v = sample(body, "t_events_total");
        if (v < last) ++went_back;
        last = v;
        ++answered;
      }
    });
  for (auto& s : scrapers) s.join();
  stop = true;
  writer.join();
  EXPECT_EQ(answered.load(), 100);
  EXPECT_EQ(went_back.load(), 0);
  EXPECT_EQ(server.scrapes(), 100u);
}

// A deferred answer (a profile taken over seconds) holds its connection, not
// a server thread: scrapes go on meanwhile, and the deferred body arrives.
TEST(ExporterThreads, DeferredAnswersDoNotHoldUpScrapes) {
  core::Registry reg;
  HttpOptions opts{.listen = "127.0.0.1:0", .threads = 1, .min_scrape_interval_ns = 0};
  HttpServer server(opts, reg, [] { return Readiness{true, ""}; });
  std::atomic<bool> release{false};
  server.set_profile_handler([&](const ProfileQuery& q) {
    return HttpResponse{.deferred = [&release, seconds = q.seconds] {
      while (!release.load()) std::this_thread::sleep_for(5ms);
      return HttpResponse{.status = 200,
                          .content_type = "application/octet-stream",
                          .body = std::make_shared<const std::string>(
                              "profile of " + std::to_string(seconds) + "s"),
                          .headers = {{"Content-Disposition", "attachment; filename=\"profile\""}}};
    }};
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  std::atomic<long> profile_status{0};
  std::string profile_body;
  std::thread profiler([&] {
    long status = 0;
    profile_body = http_get(base + "/debug/pprof/profile?seconds=3", &status);
    profile_status = status;
  });
  std::this_thread::sleep_for(100ms);  // the profile request is suspended by now
  for (int i = 0; i < 5; ++i) {
    long status = 0;
    http_get(base + "/metrics", &status);
    EXPECT_EQ(status, 200);  // one server thread, and it is free
  }
  EXPECT_EQ(profile_status.load(), 0);  // still waiting
  release = true;
  profiler.join();
  EXPECT_EQ(profile_status.load(), 200);
  EXPECT_EQ(profile_body, "profile of 3s");
}

// A collector that answers every POST with 200 and counts the requests.
class TinyCollector {
 public:
  TinyCollector() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0)
      throw std::runtime_error("collector: cannot listen");
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyCollector() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int posts() const { return posts_.load(); }

 private:
  void serve() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      handle(c);
      close(c);
    }
  }
  // One connection: requests with Content-Length bodies, until it closes.
  void handle(int c) {
    std::string in;
    char buf[65536];
    for (;;) {
      auto head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        size_t body_len = 0;
        auto cl = in.find("Content-Length: ");
        if (cl == std::string::npos) cl = in.find("content-length: ");
        if (cl != std::string::npos && cl < head_end) body_len = std::stoul(in.substr(cl + 16));
        if (in.size() >= head_end + 4 + body_len) {
          in.erase(0, head_end + 4 + body_len);
          ++posts_;
          const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
          if (write(c, ok, sizeof ok - 1) < 0) return;
          continue;
        }
      }
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) return;
      auto n = read(c, buf, sizeof buf);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> posts_{0};
  std::thread thread_;
};

TEST(ExporterThreads, OtlpSenderDeliversWhatSeveralThreadsQueue) {
  TinyCollector collector;
  OtlpHttpExporter exporter({.endpoint = "http://127.0.0.1:" + std::to_string(collector.port()),
                             .initial_backoff = 10ms});
  std::vector<std::thread> producers;
  std::atomic<int> queued{0};
  for (int t = 0; t < 3; ++t)
    producers.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        auto signal = i % 2 ? OtlpSignal::logs : OtlpSignal::metrics;
        if (exporter.enqueue(signal, "{\"p\":" + std::to_string(t * 100 + i) + "}")) ++queued;
        (void)exporter.stats();  // read while the sender updates them
      }
    });
  for (auto& p : producers) p.join();
  exporter.shutdown(10s);
  auto st = exporter.stats();
  EXPECT_EQ(queued.load(), 120);
  EXPECT_EQ(st.sent[0] + st.sent[1], 120u);
  EXPECT_EQ(collector.posts(), 120);
}

// The loss ledger of OTLP logs across its three threads: the dispatcher adds
// events, the export takes documents and the sender settles them, while the
// refresher reads the ledger. Nothing is counted twice or lost: at the end
// every event is delivered, and no read ever saw more than was added.
TEST(ExporterThreads, OtlpLogLedgerSettlesEveryEventAcrossThreads) {
  TinyCollector collector;
  OtlpHttpExporter exporter({.endpoint = "http://127.0.0.1:" + std::to_string(collector.port()),
                             .initial_backoff = 10ms});
  OtlpLogBuffer logs(16u << 20);  // room for every event: none dropped here
  exporter.on_settled([&](const core::ProbeCounts& events, core::SinkOutcome outcome) {
    logs.settle(events, outcome);
  });
  constexpr int kEvents = 3000;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> too_many{0};
  std::thread reader([&] {
    while (!done.load()) {
      auto l = logs.ledger();
      const auto& o = l["exec"];
      if (o.delivered + o.dropped + o.failed + o.pending > kEvents) ++too_many;
    }
  });
  std::thread exporter_thread([&] {
    OtlpResource resource;
    while (!done.load()) {
      core::ProbeCounts events;
      std::string doc = logs.take_json(resource, &events);
      if (!doc.empty()) exporter.enqueue(OtlpSignal::logs, std::move(doc), std::move(events));
      std::this_thread::sleep_for(1ms);
    }
  });
  core::EventView ev;
  ev.probe = "exec";
  ev.comm = "sh";
  for (int i = 0; i < kEvents; ++i) logs.on_event(ev);
  // Everything taken and settled.
  for (int i = 0; i < 500; ++i) {
    auto l = logs.ledger();
    if (l["exec"].delivered == kEvents) break;
    std::this_thread::sleep_for(10ms);
  }
  done = true;
  reader.join();
  exporter_thread.join();
  exporter.shutdown(10s);
  auto l = logs.ledger();
  EXPECT_EQ(l["exec"].delivered, static_cast<uint64_t>(kEvents));
  EXPECT_EQ(l["exec"].pending, 0u);
  EXPECT_EQ(l["exec"].dropped + l["exec"].failed, 0u);
  EXPECT_EQ(too_many.load(), 0u);
  auto st = exporter.stats();
  EXPECT_EQ(st.rejected[1] + st.queue_full[1] + st.shutdown[1], 0u)
      << "rejected " << st.rejected[1] << " queue_full " << st.queue_full[1] << " shutdown "
      << st.shutdown[1] << " retries " << st.retries[1] << " sent " << st.sent[1];
}

}  // namespace
}  // namespace ksight::exporters
