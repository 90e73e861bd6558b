// ksight_loadgen: makes a known number of events for a probe at a paced
// rate, for the benchmarks in bench/run.py.
//
//   ksight_loadgen open RATE SECONDS [THREADS]   openat() of a missing path
//   ksight_loadgen exec RATE COUNT PATH          fork + exec PATH, waited for
//   ksight_loadgen openloop COUNT                 COUNT opens as fast as possible, ns/op
//
// Pacing works in 1 ms ticks: each tick the generator does what the rate
// owes it so far, so a short stall is caught up instead of lost. It prints
// one JSON line: what it did and how long it took.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// The empty path: openat() fails with ENOENT right after copying it in, past
// both syscall tracepoints, so the generator measures the event path rather
// than path lookup (~1.4 us per call here for a missing absolute path).
constexpr const char* kMissing = "";

uint64_t paced_opens(double rate, double seconds) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t done = 0;
  for (auto now = start; now < end; now = Clock::now()) {
    double elapsed = std::chrono::duration<double>(now - start).count();
    auto owed = static_cast<uint64_t>(elapsed * rate);
    // Past what the machine can do, catching up never ends: check the clock
    // every 1024 calls so a run lasts what it was asked to.
    while (done < owed && ((done & 1023) != 0 || Clock::now() < end)) {
      ::openat(AT_FDCWD, kMissing, O_RDONLY);
      ++done;
    }
    std::this_thread::sleep_until(now + std::chrono::microseconds(1000));
  }
  return done;
}

int cmd_open(double rate, double seconds, int threads) {
  std::vector<std::thread> workers;
  std::atomic<uint64_t> total{0};
  auto start = Clock::now();
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&] { total += paced_opens(rate / threads, seconds); });
  }
  for (auto& w : workers) w.join();
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"mode\":\"open\",\"events\":%llu,\"seconds\":%.3f,\"rate\":%.0f}\n",
              static_cast<unsigned long long>(total.load()), took,
              static_cast<double>(total) / took);
  return 0;
}

int cmd_openloop(uint64_t count) {
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i) ::openat(AT_FDCWD, kMissing, O_RDONLY);
  double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  std::printf("{\"mode\":\"openloop\",\"events\":%llu,\"ns_per_op\":%.1f}\n",
              static_cast<unsigned long long>(count), ns / static_cast<double>(count));
  return 0;
}

int cmd_exec(double rate, uint64_t count, const char* path) {
  auto start = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    if (rate > 0) {
      auto due = start + std::chrono::duration<double>(static_cast<double>(i) / rate);
      std::this_thread::sleep_until(due);
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(path, path, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::waitpid(pid, nullptr, 0);
  }
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"mode\":\"exec\",\"events\":%llu,\"seconds\":%.3f,\"ns_per_op\":%.0f}\n",
              static_cast<unsigned long long>(count), took,
              took * 1e9 / static_cast<double>(count));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: ksight_loadgen open RATE SECONDS [THREADS] | exec RATE COUNT PATH | "
               "openloop COUNT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // A fixed command name, so the agent's counts can be filtered to us.
  ::prctl(PR_SET_NAME, "ksight_loadgen");
  if (argc < 2) return usage();
  std::string mode = argv[1];
  if (mode == "open" && argc >= 4)
    return cmd_open(std::atof(argv[2]), std::atof(argv[3]), argc > 4 ? std::atoi(argv[4]) : 1);
  if (mode == "openloop" && argc == 3) return cmd_openloop(std::strtoull(argv[2], nullptr, 10));
  if (mode == "exec" && argc == 5)
    return cmd_exec(std::atof(argv[2]), std::strtoull(argv[3], nullptr, 10), argv[4]);
  return usage();
}
