#pragma once
// Kernel strings (command names, paths, argv) are bytes, not text: a process
// can name itself with invalid UTF-8 or terminal escape sequences, and a comm
// cut at 15 bytes can split a multibyte character. Everything that turns such
// bytes into text for someone else (label values, OTLP and JSON strings, the
// terminal) goes through the one UTF-8 scanner here, so every output agrees
// on what is valid.
#include <cstddef>
#include <string>
#include <string_view>

namespace ksight::core {

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, nothing past U+10FFFF) starting at s[i], or 0 when the byte
// there does not start one.
size_t utf8_sequence_length(std::string_view s, size_t i);

bool is_valid_utf8(std::string_view s);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// Appends `s` with every byte that is not part of a well-formed sequence
// replaced by U+FFFD: what label values and OTLP strings carry.
void append_sanitized_utf8(std::string& out, std::string_view s);
std::string sanitize_utf8(std::string_view s);

// `s` percent-encoded for a URL query: everything but RFC 3986's unreserved
// characters (letters, digits, - _ . ~) as %HH, so a value holding '&', '='
// or a space stays one value.
std::string percent_encode(std::string_view s);

// Appends `s` for a terminal: control characters (C0, DEL, and C1 such as
// U+009B, a one-character CSI for some terminals) and bytes that are not
// valid UTF-8 become \xHH, and a backslash becomes \\, so nothing a process
// names itself can move the cursor, retitle the window or fake output.
void append_terminal_safe(std::string& out, std::string_view s);

// How a JSON string holds bytes that are not valid UTF-8.
enum class InvalidUtf8 {
  escape_byte,  // \u00HH: the byte read as Latin-1, so it can be recovered (JSON lines)
  replace,      // U+FFFD (OTLP)
};

// Appends `s` as a quoted JSON string: valid UTF-8 verbatim, control
// characters escaped, invalid bytes as `invalid` says. The result is always
// valid JSON in valid UTF-8.
void append_json_string(std::string& out, std::string_view s,
                        InvalidUtf8 invalid = InvalidUtf8::escape_byte);

}  // namespace ksight::core
