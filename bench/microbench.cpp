// Microbenchmarks of the user-space event path and of a scrape, through the
// real aggregation core and exporters (no kernel needed).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/registry.h"
#include "export/otlp.h"
#include "export/prometheus.h"
#include "ksight/abi/exec.h"
#include "probes/exec.h"
#include "runtime/batch_queue.h"

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

// A /metrics scrape: snapshot + prometheus-cpp text serialization.
void BM_PrometheusScrape(benchmark::State& state) {
  core::Registry reg({.default_max_series = 1'000'000, .series_ttl_ns = 0});
  fill(reg, static_cast<size_t>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    auto text = exporters::prometheus_text(reg.collect(core::mono_ns()));
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_PrometheusScrape)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond);

// An OTLP/JSON metrics export of the same registry.
void BM_OtlpExport(benchmark::State& state) {
  core::Registry reg({.default_max_series = 1'000'000, .series_ttl_ns = 0});
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

}  // namespace

BENCHMARK_MAIN();
