#pragma once
// Durations ("500ms", "10s", "5m", "1h30m") and sizes ("256KiB", "8MiB", "1GiB",
// plain bytes), as the config file and the flags spell them.
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace ksight::config {

std::expected<uint64_t, std::string> parse_duration_ns(std::string_view text);
std::expected<uint64_t, std::string> parse_size_bytes(std::string_view text);
std::string format_duration(uint64_t ns);

}  // namespace ksight::config
