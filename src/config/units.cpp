#include "config/units.h"

#include <cctype>
#include <charconv>

namespace ksight::config {

std::expected<uint64_t, std::string> parse_duration_ns(std::string_view text) {
  const std::string bad =
      "invalid duration '" + std::string(text) + "' (expected e.g. 500ms, 10s, 5m, 1h30m)";
  if (text.empty()) return std::unexpected(bad);
  uint64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc() || end == text.data() + i) return std::unexpected(bad);
    i = static_cast<size_t>(end - text.data());
    size_t j = i;
    while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) ++j;
    std::string_view unit = text.substr(i, j - i);
    uint64_t mult = 0;
    if (unit == "ns")
      mult = 1;
    else if (unit == "us")
      mult = 1'000;
    else if (unit == "ms")
      mult = 1'000'000;
    else if (unit == "s")
      mult = 1'000'000'000ull;
    else if (unit == "m")
      mult = 60'000'000'000ull;
    else if (unit == "h")
      mult = 3'600'000'000'000ull;
    else if (unit == "d")
      mult = 86'400'000'000'000ull;
    else
      return std::unexpected(bad);
    total += n * mult;
    i = j;
  }
  return total;
}

std::expected<uint64_t, std::string> parse_size_bytes(std::string_view text) {
  const std::string bad =
      "invalid size '" + std::string(text) + "' (expected e.g. 4096, 256KiB, 8MiB, 1GiB)";
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data()) return std::unexpected(bad);
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  uint64_t mult = 0;
  if (unit.empty() || unit == "B")
    mult = 1;
  else if (unit == "KiB" || unit == "K" || unit == "k")
    mult = 1ull << 10;
  else if (unit == "MiB" || unit == "M")
    mult = 1ull << 20;
  else if (unit == "GiB" || unit == "G")
    mult = 1ull << 30;
  else
    return std::unexpected(bad);
  return n * mult;
}

std::string format_duration(uint64_t ns) {
  struct U {
    uint64_t ns;
    const char* name;
  };
  for (U u : {U{3'600'000'000'000ull, "h"}, U{60'000'000'000ull, "m"}, U{1'000'000'000ull, "s"},
              U{1'000'000, "ms"}, U{1'000, "us"}}) {
    if (ns >= u.ns && ns % u.ns == 0) return std::to_string(ns / u.ns) + u.name;
  }
  return std::to_string(ns) + "ns";
}

}  // namespace ksight::config
