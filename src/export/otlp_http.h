#pragma once
// OTLP/HTTP push: POSTs OTLP/JSON documents to a collector's /v1/metrics and
// /v1/logs from one sender thread, with a bounded queue, retries with
// exponential backoff on connection errors and 429/502/503/504 (honouring
// Retry-After), and a bounded final flush. Whatever cannot be kept is dropped
// and counted, never blocking the agent.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/event.h"

namespace ksight::exporters {

enum class OtlpSignal : uint8_t { metrics, logs };
std::string_view to_string(OtlpSignal s);

struct OtlpHttpOptions {
  std::string endpoint;  // base URL, e.g. http://collector:4318
  std::map<std::string, std::string> headers;
  bool gzip = false;
  std::chrono::milliseconds timeout{10'000};
  size_t max_queue_bytes = 32u << 20;
  std::chrono::milliseconds initial_backoff{1'000};
  std::chrono::milliseconds max_backoff{30'000};
};

struct OtlpHttpStats {
  uint64_t sent[2] = {};        // by signal: accepted by the collector
  uint64_t retries[2] = {};     // attempts that failed and will be retried
  uint64_t rejected[2] = {};    // the collector refused (4xx other than 408/429): dropped
  uint64_t queue_full[2] = {};  // dropped at enqueue: the queue was at its bound
  uint64_t shutdown[2] = {};    // still queued when the final flush ran out of time
  size_t queue_bytes = 0;
};

class OtlpHttpExporter {
 public:
  explicit OtlpHttpExporter(OtlpHttpOptions opts);
  ~OtlpHttpExporter();
  OtlpHttpExporter(const OtlpHttpExporter&) = delete;
  OtlpHttpExporter& operator=(const OtlpHttpExporter&) = delete;

  // Queues a document; never blocks. False when the queue is full (counted).
  // `events`: the log records it carries by probe, settled through the
  // callback below once the document is sent, dropped or given up on.
  bool enqueue(OtlpSignal signal, std::string body, core::ProbeCounts events = {});
  // Called with each logs document's events and their fate, on the sender
  // thread or in enqueue(), under the exporter's lock: it must not call the
  // exporter. Set before the first enqueue.
  void on_settled(std::function<void(const core::ProbeCounts&, core::SinkOutcome)> fn) {
    settled_ = std::move(fn);
  }
  // Delivers what it can within `budget`, then stops the sender; what is
  // left is counted as dropped. Idempotent.
  void shutdown(std::chrono::milliseconds budget);
  OtlpHttpStats stats() const;

 private:
  struct Item {
    OtlpSignal signal;
    std::string body;  // already compressed when gzip is on
    core::ProbeCounts events;
  };
  void settle(const Item& item, core::SinkOutcome outcome) {
    if (settled_ && !item.events.empty()) settled_(item.events, outcome);
  }
  void run();
  // HTTP status, or 0 for a transport failure; `retry_after` when the server sent one.
  long post(const Item& item, std::chrono::milliseconds timeout, long* retry_after_s);

  OtlpHttpOptions opts_;
  std::vector<std::string> header_lines_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  OtlpHttpStats stats_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point deadline_{};
  // Read by curl's progress callback, to cut a request short at shutdown.
  std::atomic<int64_t> abort_at_ns_{INT64_MAX};
  std::function<void(const core::ProbeCounts&, core::SinkOutcome)> settled_;
  std::thread sender_;
};

// Parses "k1=v1,k2=v2" (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES),
// percent-decoding values.
std::vector<std::pair<std::string, std::string>> parse_otel_pairs(std::string_view text);

// gzip (RFC 1952) of `data`, at zlib's `level` (-1: zlib's default, 6).
std::string gzip_compress(std::string_view data, int level = -1);

}  // namespace ksight::exporters
