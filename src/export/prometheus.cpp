#include "export/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace ksight::exporters {

namespace {

// A sample value as prometheus-cpp writes it: an ostream in the classic
// locale at precision 16 (printf's %.16g), with Nan, +Inf and -Inf spelled
// out. Integers, the common case (counts), skip the general formatter.
void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  // Below 1e15 every integer has at most 16 significant digits, so %.16g
  // writes it plainly; -0 keeps its sign through the general path.
  if (std::fabs(v) < 1e15 && v == std::trunc(v) && !(v == 0 && std::signbit(v)))
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
  else
    r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 16);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

void append_count(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// A label value between quotes: backslash, double quote and newline escaped.
void append_label_value(std::string& out, std::string_view s) {
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(s.data() + run, i - run);
    out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

// name="value",name="value" for one series, without braces.
void append_labels(std::string& out, const core::MetricDesc& d, const core::SeriesSnapshot& s) {
  for (size_t i = 0; i < d.label_names.size(); ++i) {
    if (i) out.push_back(',');
    out += d.label_names[i];
    out += "=\"";
    append_label_value(out, s.labels[i]);
    out.push_back('"');
  }
}

// One sample line's head: name, suffix, labels and an optional `le`.
void append_head(std::string& out, const core::MetricDesc& d, std::string_view suffix,
                 std::string_view labels, std::string_view le = {}) {
  out += d.name;
  out += suffix;
  if (!labels.empty() || !le.empty()) {
    out.push_back('{');
    out += labels;
    if (!le.empty()) {
      if (!labels.empty()) out.push_back(',');
      out += "le=\"";
      out += le;
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
}

void append_histogram(std::string& out, const core::MetricDesc& d, const core::SeriesSnapshot& s,
                      const std::vector<std::string>& le, std::string& labels) {
  labels.clear();
  append_labels(labels, d, s);
  append_head(out, d, "_count", labels);
  append_count(out, s.count);
  out.push_back('\n');
  append_head(out, d, "_sum", labels);
  append_value(out, s.sum);
  out.push_back('\n');
  uint64_t cumulative = 0;
  bool ended_at_inf = false;
  for (size_t i = 0; i < s.buckets.size(); ++i) {
    cumulative += s.buckets[i];
    // Buckets past the bounds are the +Inf bucket.
    const std::string& bound = le[std::min(i, d.bounds.size())];
    append_head(out, d, "_bucket", labels, bound);
    append_count(out, cumulative);
    out.push_back('\n');
    ended_at_inf = i >= d.bounds.size() || (std::isinf(d.bounds[i]) && d.bounds[i] > 0);
  }
  // A histogram must end with +Inf; the count is what it holds.
  if (!ended_at_inf) {
    append_head(out, d, "_bucket", labels, "+Inf");
    append_count(out, s.count);
    out.push_back('\n');
  }
}

}  // namespace

void append_prometheus_text(const std::vector<core::FamilySnapshot>& snap, std::string& out) {
  std::string labels;           // one series' labels, reused
  std::vector<std::string> le;  // one family's bucket bounds as text, then "+Inf"
  for (const auto& fam : snap) {
    const core::MetricDesc& d = *fam.desc;
    // HELP is written as it is: our help texts are our own one-line strings.
    if (!d.help.empty()) {
      out += "# HELP ";
      out += d.name;
      out.push_back(' ');
      out += d.help;
      out.push_back('\n');
    }
    out += "# TYPE ";
    out += d.name;
    switch (d.kind) {
      case core::MetricKind::counter:
        out += " counter\n";
        break;
      case core::MetricKind::gauge:
        out += " gauge\n";
        break;
      case core::MetricKind::histogram:
        out += " histogram\n";
        break;
    }
    if (d.kind == core::MetricKind::histogram) {
      le.clear();
      for (double b : d.bounds) {
        le.emplace_back();
        append_value(le.back(), b);
      }
      le.emplace_back("+Inf");
      for (const auto& s : fam.series) append_histogram(out, d, s, le, labels);
      continue;
    }
    for (const auto& s : fam.series) {
      out += d.name;
      if (!d.label_names.empty()) {
        out.push_back('{');
        append_labels(out, d, s);
        out.push_back('}');
      }
      out.push_back(' ');
      append_value(out, s.value);
      out.push_back('\n');
    }
  }
}

std::string prometheus_text(const std::vector<core::FamilySnapshot>& snap) {
  std::string out;
  append_prometheus_text(snap, out);
  return out;
}

}  // namespace ksight::exporters
