#include "cli/pprof_service.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "core/clock.h"
#include "identity/workload_filter.h"
#include "profile/pprof.h"
#include "runtime/agent.h"
#include "runtime/stack_collector.h"

namespace ksight::cli {

namespace {

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

exporters::HttpResponse plain(unsigned status, std::string text) {
  return {.status = status,
          .content_type = kTextPlain,
          .body = std::make_shared<const std::string>(std::move(text) + "\n")};
}

}  // namespace

PprofService::PprofService(runtime::Agent& agent, identity::Resolver& resolver)
    : agent_(agent), resolver_(resolver) {}

std::unique_lock<std::mutex> PprofService::hold_off() {
  cancel_.store(true);
  std::unique_lock lk(use_mu_);
  cancel_.store(false);
  return lk;
}

void PprofService::pause_stacks() {
  if (auto* source = agent_.stack_source("profile"))
    if (auto r = source->set_active(false); !r) spdlog::warn("profile probe: {}", r.error());
}

exporters::HttpResponse PprofService::handle(const exporters::ProfileQuery& q) {
  auto selector = identity::WorkloadSelector::from_flags(q.ns, q.pod, "", "");
  if (!selector) return plain(400, selector.error());
  bool expected = false;
  if (!busy_.compare_exchange_strong(expected, true))
    return plain(429, "a profile is being taken already; one at a time");
  // The work holds the service alive until it is done.
  return {.deferred = [self = shared_from_this(), q] {
    auto res = self->take(q);
    self->busy_.store(false);
    return res;
  }};
}

exporters::HttpResponse PprofService::take(const exporters::ProfileQuery& q) {
  std::unique_lock lk(use_mu_);
  probes::StackSource* source = agent_.stack_source("profile");
  if (!source)
    return plain(404,
                 "profiling is off: the profile probe is not running (add profile to probes, "
                 "with profile.pprof on)");
  auto selector = identity::WorkloadSelector::from_flags(q.ns, q.pod, "", "");
  runtime::StackCollector::Options opts{
      .keep =
          [&](const profile::RawStack& s) {
            if (q.pid && s.pid != q.pid) return false;
            if (selector->empty()) return true;
            auto id = resolver_.resolve(s.cgroup_id);
            return id && selector->matches(*id);
          },
      .workload_of = runtime::StackCollector::workload_names(resolver_)};
  runtime::StackCollector collector(*source, symbolizer_, std::move(opts));
  if (auto r = source->set_active(true); !r) return plain(503, "profile probe: " + r.error());
  collector.reset();  // whatever was counted before this request is not its
  const auto start_unix = static_cast<int64_t>(core::unix_ns());
  const uint64_t start = core::mono_ns();
  const uint64_t end = start + uint64_t{q.seconds} * 1'000'000'000ull;
  bool cut_short = false;
  while (core::mono_ns() < end) {
    if (cancel_.load()) {
      cut_short = true;
      break;
    }
    collector.poll(core::mono_ns());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  profile::Profile prof = collector.finish(start_unix, core::mono_ns() - start);
  if (auto r = source->set_active(false); !r) spdlog::warn("profile probe: {}", r.error());
  if (cut_short) return plain(503, "the profile was cut short (shutdown or configuration reload)");
  uint64_t samples = 0;
  for (const auto& s : prof.samples) samples += s.count;
  spdlog::info("/debug/pprof/profile: {} samples in {} stacks over {} s", samples,
               prof.samples.size(), q.seconds);
  return {.status = 200,
          .content_type = "application/octet-stream",
          .body = std::make_shared<const std::string>(profile::pprof_gzip(prof)),
          .headers = {{"Content-Disposition", "attachment; filename=\"profile\""},
                      {"X-Content-Type-Options", "nosniff"}}};
}

}  // namespace ksight::cli
