#include "probes/rate_limit.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <string>

namespace ksight::probes {

namespace {

std::optional<size_t> parse_number(std::string_view s) {
  size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<size_t> count_cpu_list(std::string_view list) {
  while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.remove_suffix(1);
  if (list.empty()) return std::nullopt;
  size_t total = 0;
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view range = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    size_t dash = range.find('-');
    auto lo = parse_number(range.substr(0, dash));
    auto hi = dash == std::string_view::npos ? lo : parse_number(range.substr(dash + 1));
    if (!lo || !hi || *hi < *lo) return std::nullopt;
    total += *hi - *lo + 1;
  }
  return total;
}

size_t online_cpus() {
  std::ifstream f("/sys/devices/system/cpu/online");
  std::string text;
  if (std::getline(f, text)) {
    if (auto n = count_cpu_list(text); n && *n > 0) return *n;
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<size_t>(n) : 1;
}

TokenBucket per_cpu_token_bucket(uint64_t rate, uint64_t burst, size_t cpus) {
  if (rate == 0) return {};
  const uint64_t n = std::max<size_t>(cpus, 1);
  const uint64_t cost = std::max<uint64_t>(1, 1'000'000'000ull * n / rate);
  const uint64_t per_cpu_burst = std::max<uint64_t>(1, (burst ? burst : rate) / n);
  return {cost, cost * per_cpu_burst};
}

}  // namespace ksight::probes
