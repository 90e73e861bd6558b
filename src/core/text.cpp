#include "core/text.h"

#include <cstdint>

namespace ksight::core {

namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_hex_escape(std::string& out, std::string_view prefix, unsigned char c) {
  out.append(prefix);
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xf]);
}

bool continuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Calls on_valid(run) for runs of well-formed UTF-8 and on_invalid(byte) for
// each byte outside one.
template <class Valid, class Invalid>
void scan(std::string_view s, Valid&& on_valid, Invalid&& on_invalid) {
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t n = utf8_sequence_length(s, i);
    if (n) {
      i += n;
      continue;
    }
    if (i > start) on_valid(s.substr(start, i - start));
    on_invalid(static_cast<unsigned char>(s[i]));
    start = ++i;
  }
  if (i > start) on_valid(s.substr(start, i - start));
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const size_t left = s.size() - i;
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;  // a continuation byte, or an overlong 2-byte lead
  if (c < 0xE0) return left >= 2 && continuation(b(1)) ? 2 : 0;
  if (c < 0xF0) {
    if (left < 3 || !continuation(b(1)) || !continuation(b(2))) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (c < 0xF5) {
    if (left < 4 || !continuation(b(1)) || !continuation(b(2)) || !continuation(b(3))) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    // ASCII fast path: the common case for every label value.
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence_length(s, i);
    if (!n) return false;
    i += n;
  }
  return true;
}

void append_sanitized_utf8(std::string& out, std::string_view s) {
  scan(
      s, [&](std::string_view run) { out.append(run); },
      [&](unsigned char) { out.append(kReplacementChar); });
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  append_sanitized_utf8(out, s);
  return out;
}

void append_terminal_safe(std::string& out, std::string_view s) {
  scan(
      s,
      [&](std::string_view run) {
        for (size_t i = 0; i < run.size();) {
          const auto c = static_cast<unsigned char>(run[i]);
          if (c < 0x20 || c == 0x7F) {
            append_hex_escape(out, "\\x", c);
            ++i;
          } else if (c == '\\') {
            out += "\\\\";
            ++i;
          } else if (c == 0xC2 && i + 1 < run.size() &&
                     static_cast<unsigned char>(run[i + 1]) < 0xA0) {
            // U+0080..U+009F, the C1 controls: escape the code point's bytes.
            append_hex_escape(out, "\\x", c);
            append_hex_escape(out, "\\x", static_cast<unsigned char>(run[i + 1]));
            i += 2;
          } else {
            out.push_back(static_cast<char>(c));
            ++i;
          }
        }
      },
      [&](unsigned char c) { append_hex_escape(out, "\\x", c); });
}

void append_json_string(std::string& out, std::string_view s, InvalidUtf8 invalid) {
  out.push_back('"');
  scan(
      s,
      [&](std::string_view run) {
        for (char ch : run) {
          const auto c = static_cast<unsigned char>(ch);
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
              if (c < 0x20 || c == 0x7F)
                append_hex_escape(out, "\\u00", c);
              else
                out.push_back(ch);
          }
        }
      },
      [&](unsigned char c) {
        if (invalid == InvalidUtf8::replace)
          out.append(kReplacementChar);
        else
          append_hex_escape(out, "\\u00", c);
      });
  out.push_back('"');
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace ksight::core
