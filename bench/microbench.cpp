// Microbenchmarks of the user-space event path and of a scrape, through the
// real aggregation core and exporters (no kernel needed).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/registry.h"
#include "export/otlp.h"
#include "export/otlp_http.h"
#include "export/prometheus.h"
#include "ksight/abi/exec.h"
#include "probes/exec.h"
#include "runtime/batch_queue.h"
#ifdef KSIGHT_HAVE_REFERENCE_EXPORTERS
#include "support/reference_exporters.h"
#endif

namespace {

using namespace ksight;

std::vector<std::string> names(size_t n) {
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) out.push_back("comm" + std::to_string(i));
  return out;
}

// One counter update per event, spread over `keys` label sets.
void BM_RegistryAdd(benchmark::State& state) {
  core::Registry reg({.default_max_series = 1'000'000, .series_ttl_ns = 0});
  auto id = reg.add({.name = "b_total", .help = "h", .label_names = {"comm"}});
  auto keys = names(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  auto w = reg.write(core::mono_ns());
  for (auto _ : state) {
    w.add(id, {keys[i]});
    if (++i == keys.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegistryAdd)->Arg(10)->Arg(1000)->Arg(10000);

// What the dispatcher does per exec record: decode and count, batch of 1024
// under one lock, 1000 distinct commands.
void BM_DecodeExecBatch(benchmark::State& state) {
  core::Registry reg({.default_max_series = 1'000'000, .series_ttl_ns = 0});
  probes::ExecDecoder dec(reg);
  std::vector<ksight_exec_event> recs(1024);
  for (size_t i = 0; i < recs.size(); ++i) {
    std::snprintf(recs[i].hdr.comm, sizeof(recs[i].hdr.comm), "c%zu", i % 1000);
    recs[i].hdr.probe_id = KSIGHT_PROBE_EXEC;
  }
  for (auto _ : state) {
    auto w = reg.write(core::mono_ns());
    for (const auto& r : recs) {
      dec.decode({reinterpret_cast<const std::byte*>(&r), sizeof(r)}, w, nullptr);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(recs.size()));
}
BENCHMARK(BM_DecodeExecBatch);

// The reader's copy into a batch and the hand-off to the dispatcher, 64-byte records.
void BM_BatchHandoff(benchmark::State& state) {
  runtime::BatchQueue q(64, 256 << 10, 4096);
  char rec[64] = {};
  for (auto _ : state) {
    runtime::EventBatch* b = q.acquire();
    while (b->append(rec, sizeof(rec))) {
    }
    q.try_push(b);
    runtime::EventBatch* got = q.pop(std::chrono::milliseconds(0));
    benchmark::DoNotOptimize(got->size());
    state.SetItemsProcessed(state.items_processed() + static_cast<int64_t>(got->size()));
    q.release(got);
  }
}
BENCHMARK(BM_BatchHandoff);

void fill(core::Registry& reg, size_t series) {
  auto id = reg.add({.name = "ksight_bench_total",
                     .help = "Synthetic series.",
                     .label_names = {"comm", "cgroup"}});
  auto w = reg.write(core::mono_ns());
  for (size_t i = 0; i < series; ++i) {
    std::string a = "comm" + std::to_string(i % 1000),
                b = "/kubepods/pod" + std::to_string(i / 1000);
    w.add(id, {a, b}, static_cast<double>(i));
  }
}

// A /metrics scrape as the router renders it: snapshot, then the text
// written into a buffer reserved from the last scrape's size.
void BM_PrometheusScrape(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  size_t last = 0;
  for (auto _ : state) {
    std::string text;
    text.reserve(last + last / 16);
    exporters::append_prometheus_text(reg.collect(core::mono_ns()), text);
    last = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(last);
}
BENCHMARK(BM_PrometheusScrape)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond);

// The same scrape for a client that accepts gzip: text + compression
// (level 1, what the router uses; done once per min_scrape_interval).
void BM_PrometheusScrapeGzip(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto gz = exporters::gzip_compress(exporters::prometheus_text(reg.collect(core::mono_ns())), 1);
    bytes = gz.size();
    benchmark::DoNotOptimize(gz.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_PrometheusScrapeGzip)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// The snapshot alone: what every exporter pays before writing a byte.
void BM_Collect(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto snap = reg.collect(core::mono_ns());
    benchmark::DoNotOptimize(snap.data());
  }
}
BENCHMARK(BM_Collect)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// An OTLP/JSON metrics export of the same registry.
void BM_OtlpExport(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  auto res = exporters::OtlpResource::for_this_host();
  size_t bytes = 0;
  for (auto _ : state) {
    auto doc = exporters::otlp_metrics_json(reg.collect(core::mono_ns()), res, core::unix_ns());
    bytes = doc.size();
    benchmark::DoNotOptimize(doc.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_OtlpExport)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

#ifdef KSIGHT_HAVE_REFERENCE_EXPORTERS
// The encoders before issue 16 (prometheus-cpp; an nlohmann DOM), on the same
// registry, for the before/after in docs/performance.md.
void BM_PrometheusScrapeReference(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto text = reference::prometheus_text(reg.collect(core::mono_ns()));
    benchmark::DoNotOptimize(text.data());
  }
}
BENCHMARK(BM_PrometheusScrapeReference)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_OtlpExportReference(benchmark::State& state) {
  core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  auto res = exporters::OtlpResource::for_this_host();
  for (auto _ : state) {
    auto doc = reference::otlp_metrics_json(reg.collect(core::mono_ns()), res, core::unix_ns());
    benchmark::DoNotOptimize(doc.data());
  }
}
BENCHMARK(BM_OtlpExportReference)->Arg(100000)->Unit(benchmark::kMillisecond);
#endif

// Heap in use, malloc's own bookkeeping included (mmapped blocks too).
size_t heap_in_use() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// The cost of cardinality: heap bytes one series holds in the registry
// (two labels of ~8 and ~15 characters, a counter), measured as the heap
// that filling a registry with N series takes. One iteration: filling is
// the work, and the figure is what is left afterwards.
void BM_RegistryMemory(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  double per_series = 0;
  for (auto _ : state) {
    const size_t before = heap_in_use();
    {
      core::Registry reg({.default_max_series = 2'000'000, .series_ttl_ns = 0});
      fill(reg, n);
      per_series = static_cast<double>(heap_in_use() - before) / static_cast<double>(n);
      // A snapshot's transient copy, on top, while a scrape runs.
      const size_t held = heap_in_use();
      auto snap = reg.collect(core::mono_ns());
      state.counters["snapshot_bytes_per_series"] =
          static_cast<double>(heap_in_use() - held) / static_cast<double>(n);
      benchmark::DoNotOptimize(snap.data());
    }
  }
  state.counters["bytes_per_series"] = per_series;
}
BENCHMARK(BM_RegistryMemory)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Arg(1000000)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
