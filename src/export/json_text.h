#pragma once
// Appending JSON text to a reusable buffer, for the per-event sinks (JSON
// lines, OTLP log records), where building a DOM per event would allocate.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/text.h"

namespace ksight::exporters {

// One JSON string escaper for every sink (core/text.h): valid UTF-8 verbatim,
// invalid bytes as \u00HH by default, as U+FFFD where a consumer needs text.
using core::append_json_string;
using core::InvalidUtf8;

template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(end - buf));
}

inline void append_field_value(std::string& out, const core::Field& f) {
  switch (f.type) {
    case core::Field::Type::i64:
      append_number(out, f.i);
      break;
    case core::Field::Type::u64:
      append_number(out, f.u);
      break;
    case core::Field::Type::f64:
      append_number(out, f.d);
      break;
    case core::Field::Type::str:
      append_json_string(out, f.s);
      break;
  }
}

// RFC 3339 with nanoseconds, UTC: 2026-11-22T18:49:16.123456789Z
std::string_view format_rfc3339(uint64_t unix_ns, char (&buf)[40]);

}  // namespace ksight::exporters
