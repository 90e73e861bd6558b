// The one UTF-8 scanner behind label values, JSON/OTLP strings and terminal
// output (core/text.h), and what each exporter makes of hostile bytes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/registry.h"
#include "core/text.h"
#include "export/otlp.h"
#include "export/prometheus.h"

namespace ksight::core {
namespace {

TEST(Utf8, ValidAndInvalidSequences) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("bash"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));              // é
  EXPECT_TRUE(is_valid_utf8("\xE2\x82\xAC"));             // €
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));         // 😀
  EXPECT_FALSE(is_valid_utf8("\xff\xfe"));                // never in UTF-8
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));                // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));            // surrogate
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));        // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("abcdefghijklmn\xE2\x82"));  // € cut at 16 bytes
  EXPECT_FALSE(is_valid_utf8("\x80"));                    // lone continuation
}

TEST(Utf8, SanitizeReplacesEachInvalidByte) {
  EXPECT_EQ(sanitize_utf8("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("caf\xC3\xA9"), "caf\xC3\xA9");  // valid text untouched
  EXPECT_EQ(sanitize_utf8("ab\xE2\x82"), "ab\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_TRUE(is_valid_utf8(sanitize_utf8("\xC0\xAF\xED\xA0\x80x")));
}

TEST(Utf8, JsonStringsAreValidJsonInBothModes) {
  std::string s;
  append_json_string(s, "a\xff\"\\\n\x01\x7f\xC3\xA9");
  EXPECT_EQ(s, "\"a\\u00ff\\\"\\\\\\n\\u0001\\u007f\xC3\xA9\"");
  // The escaped byte comes back as U+00FF: the original byte, read as Latin-1.
  EXPECT_EQ(nlohmann::json::parse(s).get<std::string>(), "a\xC3\xBF\"\\\n\x01\x7f\xC3\xA9");
  s.clear();
  append_json_string(s, "a\xff", InvalidUtf8::replace);
  EXPECT_EQ(s, "\"a\xEF\xBF\xBD\"");
  EXPECT_NO_THROW(nlohmann::json::parse(s));
}

TEST(Utf8, TerminalOutputEscapesControlsAndInvalidBytes) {
  std::string s;
  append_terminal_safe(s, "\x1b]0;pwned\x07\x1b[2Jok");
  EXPECT_EQ(s, "\\x1b]0;pwned\\x07\\x1b[2Jok");
  s.clear();
  append_terminal_safe(s,
                       "\xC2\x9B"
                       "31m\xff\\caf\xC3\xA9\x7f");  // C1 CSI, invalid, backslash
  EXPECT_EQ(s, "\\xc2\\x9b31m\\xff\\\\caf\xC3\xA9\\x7f");
  for (unsigned char c : s) EXPECT_TRUE(c >= 0x20 && c != 0x7f) << int(c);
}

// The crash of issue 12: a comm with invalid bytes reached the label values,
// so promtool rejected /metrics and nlohmann's dump() threw on OTLP export.
TEST(Utf8, LabelValuesAreSanitizedOnceForEveryExporter) {
  Registry reg;
  auto execs =
      reg.add({.name = "ksight_process_execs_total", .help = "Execs.", .label_names = {"comm"}});
  {
    auto w = reg.write(mono_ns());
    w.add(execs, {"\xff\xfe"}, 1);
    w.add(execs, {"\xff\xfe"}, 1);
    w.add(execs, {"abcdefghijklmn\xE2\x82"}, 1);
  }
  auto snap = reg.collect(mono_ns());
  std::string text = exporters::prometheus_text(snap);
  EXPECT_NE(text.find("ksight_process_execs_total{comm=\"\xEF\xBF\xBD\xEF\xBF\xBD\"} 2"),
            std::string::npos)
      << text;
  EXPECT_TRUE(is_valid_utf8(text));
  std::string otlp;
  ASSERT_NO_THROW(otlp = exporters::otlp_metrics_json(snap, exporters::OtlpResource{}, 1));
  EXPECT_NO_THROW(nlohmann::json::parse(otlp));
  // Even a resource attribute from the environment cannot make it throw.
  exporters::OtlpResource bad{{{"host.name", "\xff"}}};
  EXPECT_NO_THROW(exporters::otlp_metrics_json(snap, bad, 1));
}

TEST(Text, PercentEncodeKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("spec.nodeName=node-1"), "spec.nodeName%3Dnode-1");
  EXPECT_EQ(percent_encode("a b&c/\xc3\xa9~_"), "a%20b%26c%2F%C3%A9~_");
  EXPECT_EQ(percent_encode(std::string_view("\0\xff", 2)), "%00%FF");
  EXPECT_EQ(percent_encode(""), "");
}

}  // namespace
}  // namespace ksight::core
