// The burst benchmark (issue 16, item 3): records offered from inside the
// kernel, faster than any syscall-driven generator can on this machine,
// through the agent's real channel, reader, dispatcher and sinks.
//
//   ksight_burst RATE MILLISECONDS [RING_BYTES [THREADS [TICK_US]]]
//
// Starts a runtime::Agent with the open probe (filtered to this process, so
// the machine's own opens stay out), loads bench/burst.bpf.c with its
// ksight_events map pointed at the agent's channel, then every tick runs the
// generator once (BPF_PROG_TEST_RUN) for RATE x tick records, for
// MILLISECONDS. When the agent has drained, prints one JSON object: what was
// offered (and at what rate the pacing achieved), what the reader received,
// what reached the sinks, and what was lost, by reason.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "burst.skel.h"
#include "core/registry.h"
#include "ksight/abi/open.h"
#include "runtime/agent.h"

namespace {

using namespace ksight;

constexpr std::string_view kBurstPath = "/ksight/burst";  // burst.bpf.c's BURST_PATH

// Counts what reaches the sinks: the end of the path a record takes.
class CountingSink : public core::EventSink {
 public:
  void on_event(const core::EventView& ev) override {
    const core::Field* path = ev.find("path");
    if (path && path->s == kBurstPath) seen_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t seen() const { return seen_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> seen_{0};
};

struct BurstPlan {
  uint64_t rate = 0;  // records/s offered
  uint64_t ms = 0;    // burst length
  size_t ring_bytes = 8u << 20;
  uint64_t tick_us = 1000;
  size_t threads = 1;  // generator threads, each offering rate / threads
};

double mono_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double cpu_s(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Sum over CPUs of one slot of the generator's per-CPU drop counters.
uint64_t percpu_slot(int map_fd, uint32_t slot) {
  std::vector<uint64_t> values(static_cast<size_t>(libbpf_num_possible_cpus()));
  if (bpf_map_lookup_elem(map_fd, &slot, values.data())) return 0;
  uint64_t total = 0;
  for (uint64_t v : values) total += v;
  return total;
}

struct Deleter {
  void operator()(burst_bpf* s) const { burst_bpf__destroy(s); }
};

struct GeneratorResult {
  uint64_t written = 0;  // records the generator wrote (reserve succeeded)
  double cpu_s = 0;      // this thread's CPU, the BPF program's runs included
  int error = 0;
};

// Offers `records` at `rate`/s from this thread: every tick, one test run
// writes what the rate owes by the end of the tick, so a tick that ran late is made up by
// the next rather than lowering the rate, as long as the generator can keep up.
GeneratorResult generate(int prog_fd, uint64_t records, double rate, uint64_t tick_us, double t0) {
  GeneratorResult res;
  const double cpu0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
  uint64_t offered = 0;
  timespec due{};
  clock_gettime(CLOCK_MONOTONIC, &due);
  while (offered < records) {
    // Each tick's share is written at its start: the burst of `records`
    // spans records / rate seconds, not one tick more.
    const double owed = rate * (mono_s() - t0 + static_cast<double>(tick_us) * 1e-6);
    const uint64_t target = std::min<uint64_t>(records, static_cast<uint64_t>(owed));
    if (target > offered) {
      struct {
        uint32_t records, pad;
      } args{static_cast<uint32_t>(target - offered), 0};
      LIBBPF_OPTS(bpf_test_run_opts, run_opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
      if (int err = bpf_prog_test_run_opts(prog_fd, &run_opts)) {
        res.error = err;
        break;
      }
      res.written += run_opts.retval;
      offered = target;
    }
    if (offered >= records) break;
    due.tv_nsec += static_cast<long>(tick_us * 1000);
    while (due.tv_nsec >= 1'000'000'000L) {
      due.tv_nsec -= 1'000'000'000L;
      ++due.tv_sec;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, nullptr);
  }
  res.cpu_s = cpu_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  return res;
}

int run(const BurstPlan& plan) {
  // The name the records carry as comm, and the filter the open probe uses.
  prctl(PR_SET_NAME, "ksight-burst");
  // stdout is the JSON result: the agent's progress lines stay out of it.
  spdlog::set_level(spdlog::level::warn);
  core::Registry registry;
  CountingSink sink;
  runtime::AgentOptions opts;
  opts.probes = {"open"};
  opts.require_all = true;
  opts.channel_bytes = plan.ring_bytes;
  opts.filter_tgid = static_cast<uint32_t>(getpid());
  auto agent = runtime::Agent::start(opts, registry, {&sink});
  if (!agent) {
    std::fprintf(stderr, "ksight_burst: agent: %s\n", agent.error().c_str());
    return 1;
  }

  std::unique_ptr<burst_bpf, Deleter> gen(burst_bpf__open());
  if (!gen) {
    std::perror("ksight_burst: open generator");
    return 1;
  }
  // Configured as the agent configures its probes (runtime/probe_set.cpp).
  gen->rodata->ksight_use_ringbuf = 1;
  gen->rodata->ksight_wakeup_bytes =
      static_cast<uint64_t>(opts.wakeup_fill * static_cast<double>(plan.ring_bytes));
  if (int err = bpf_map__reuse_fd(gen->maps.ksight_events, (*agent)->channel_map_fd())) {
    std::fprintf(stderr, "ksight_burst: reuse channel: %d\n", err);
    return 1;
  }
  if (int err = burst_bpf__load(gen.get())) {
    std::fprintf(stderr, "ksight_burst: load generator: %d\n", err);
    return 1;
  }
  const int prog_fd = bpf_program__fd(gen->progs.burst_write);
  const uint64_t total = plan.rate * plan.ms / 1000;

  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  std::vector<GeneratorResult> results(plan.threads);
  std::vector<std::thread> threads;
  const double t0 = mono_s();
  for (size_t i = 0; i < plan.threads; ++i) {
    const uint64_t share = total / plan.threads + (i < total % plan.threads ? 1 : 0);
    threads.emplace_back([&, i, share] {
      results[i] =
          generate(prog_fd, share, plan.rate / static_cast<double>(plan.threads), plan.tick_us, t0);
    });
  }
  for (auto& t : threads) t.join();
  const double offer_s = mono_s() - t0;
  uint64_t written = 0;
  double gen_cpu = 0;
  for (const auto& r : results) {
    if (r.error) {
      std::fprintf(stderr, "ksight_burst: test run: %d\n", r.error);
      return 1;
    }
    written += r.written;
    gen_cpu += r.cpu_s;
  }
  const uint64_t buffer_full = percpu_slot(bpf_map__fd(gen->maps.ksight_drops), 0);
  const uint64_t offered = written + buffer_full;

  // Drained when every record written has reached the sinks, or when the
  // count stops moving for 200 ms (a record lost past the ring).
  uint64_t last = 0;
  double still_since = mono_s();
  while (sink.seen() < written && mono_s() - still_since < 0.2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (sink.seen() != last) {
      last = sink.seen();
      still_since = mono_s();
    }
  }
  const double drain_s = mono_s() - t0 - offer_s;
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);
  const auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  const double proc_cpu = tv(ru1.ru_utime) + tv(ru1.ru_stime) - tv(ru0.ru_utime) - tv(ru0.ru_stime);
  const uint64_t received = (*agent)->events_received();
  const auto lost = (*agent)->events_lost_by_reason();
  (*agent)->stop();

  std::printf("{\"rate\": %lu, \"ms\": %lu, \"ring_bytes\": %zu, \"tick_us\": %lu, ", plan.rate,
              plan.ms, plan.ring_bytes, plan.tick_us);
  std::printf("\"record_bytes\": %zu, \"offered\": %lu, \"offer_seconds\": %.6f, ",
              sizeof(ksight_open_event), offered, offer_s);
  std::printf("\"offered_rate\": %.0f, \"written\": %lu, ", static_cast<double>(offered) / offer_s,
              written);
  std::printf("\"received\": %lu, \"delivered\": %lu, \"drain_seconds\": %.6f, ", received,
              sink.seen(), drain_s);
  std::printf(
      "\"threads\": %zu, \"generator_cpu\": %.6f, \"agent_cpu\": %.6f, \"lost\": "
      "{\"generator_buffer_full\": %lu",
      plan.threads, gen_cpu, proc_cpu - gen_cpu, buffer_full);
  for (size_t r = 0; r < lost.size(); ++r) {
    std::printf(", \"%.*s\": %lu",
                static_cast<int>(runtime::to_string(static_cast<runtime::LossReason>(r)).size()),
                runtime::to_string(static_cast<runtime::LossReason>(r)).data(), lost[r]);
  }
  std::printf("}}\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: ksight_burst RATE MILLISECONDS [RING_BYTES [THREADS [TICK_US]]]\n");
    return 2;
  }
  BurstPlan plan{.rate = std::strtoull(argv[1], nullptr, 10),
                 .ms = std::strtoull(argv[2], nullptr, 10)};
  if (argc > 3) plan.ring_bytes = std::strtoull(argv[3], nullptr, 10);
  if (argc > 4) plan.threads = std::strtoull(argv[4], nullptr, 10);
  if (argc > 5) plan.tick_us = std::strtoull(argv[5], nullptr, 10);
  if (plan.rate == 0 || plan.ms == 0 || plan.tick_us == 0 || plan.ring_bytes == 0 ||
      plan.threads == 0 || plan.threads > 64) {
    std::fprintf(stderr,
                 "ksight_burst: RATE, MILLISECONDS, RING_BYTES, TICK_US > 0; THREADS 1..64\n");
    return 2;
  }
  return run(plan);
}
