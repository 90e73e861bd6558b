#pragma once
// Appending JSON text to a reusable buffer, for the per-event sinks (JSON
// lines, OTLP log records), where building a DOM per event would allocate.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/event.h"

namespace ksight::exporters {

inline void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c >= 0x80) {
          // Kernel strings are bytes, not necessarily UTF-8: escape anything
          // outside ASCII so every line stays valid JSON.
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

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
