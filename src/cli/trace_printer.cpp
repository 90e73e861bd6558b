#include "cli/trace_printer.h"

#include <cerrno>
#include <ctime>

#include "core/text.h"
#include "export/json_text.h"
#include "export/jsonlines.h"

namespace ksight::cli {

namespace {

// Width of a column: wide enough for typical values, so rows line up.
int column_width(std::string_view key) {
  if (key == "args") return 0;  // last: free width
  if (key == "filename") return 24;
  return std::max<int>(static_cast<int>(key.size()), 7);
}

void append_value(std::string& out, const core::Field& f) {
  if (f.type == core::Field::Type::str) {
    // Paths and argv are whatever a process chose: no escapes reach the terminal.
    core::append_terminal_safe(out, f.s);
  } else if (f.type == core::Field::Type::f64) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.3f", f.d);
    out += buf;
  } else {
    exporters::append_field_value(out, f);
  }
}

void pad(std::string& out, size_t start, int width) {
  size_t used = out.size() - start;
  if (width > 0 && used < static_cast<size_t>(width))
    out.append(static_cast<size_t>(width) - used, ' ');
  out.push_back(' ');
}

}  // namespace

TracePrinter::TracePrinter(std::FILE* out, Format format, std::span<const std::string_view> columns,
                           uint64_t limit)
    : out_(out), format_(format), columns_(columns), limit_(limit) {
  line_.reserve(1024);
}

namespace {

constexpr int kWorkloadWidth = 24;

// Who an event came from, in one word: namespace/pod/container in
// Kubernetes, the container's name or id elsewhere, else the systemd unit
// (or the cgroup path). Empty without an identity.
void append_workload(std::string& out, const core::EventView& ev) {
  std::string_view ns, pod, container, unit;
  for (const auto& [k, v] : ev.identity) {
    if (k == "namespace") ns = v;
    if (k == "pod") pod = v;
    if (k == "container") container = v;
    if (k == "unit") unit = v;
  }
  const size_t start = out.size();
  for (auto part : {ns, pod, container}) {
    if (part.empty()) continue;
    if (out.size() > start) out.push_back('/');
    core::append_terminal_safe(out, part);
  }
  if (out.size() == start) core::append_terminal_safe(out, unit);
  if (out.size() == start) out.push_back('-');
}

}  // namespace

void TracePrinter::header() {
  header_done_ = true;
  if (format_ == Format::json) return;
  std::string h;
  size_t s = h.size();
  h += "TIME";
  pad(h, s, 12);
  if (columns_.empty()) {
    s = h.size();
    h += "PROBE";
    pad(h, s, 6);
  }
  s = h.size();
  h += "PID";
  pad(h, s, 7);
  s = h.size();
  h += "COMM";
  pad(h, s, 16);
  if (!columns_.empty()) {
    s = h.size();
    h += "WORKLOAD";
    pad(h, s, kWorkloadWidth);
  }
  if (columns_.empty()) {
    h += "DETAILS";
  } else {
    for (auto c : columns_) {
      s = h.size();
      for (char ch : c)
        h.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(ch))));
      pad(h, s, column_width(c));
    }
  }
  while (!h.empty() && h.back() == ' ') h.pop_back();
  pending_ += h;
  pending_.push_back('\n');
}

void TracePrinter::on_batch_end() {
  if (pending_.empty() || output_error_.load()) {
    pending_.clear();
    return;
  }
  // SIGPIPE is ignored (common.cpp): a reader that went away is EPIPE here.
  errno = 0;
  const size_t want = pending_.size();
  const size_t n = std::fwrite(pending_.data(), 1, want, out_);
  pending_.clear();
  if (n != want || std::fflush(out_) != 0) output_error_ = errno ? errno : EIO;
}

void TracePrinter::on_event(const core::EventView& ev) {
  if (limit_reached() || output_error_.load()) return;
  if (!header_done_) header();
  if (format_ == Format::json) {
    exporters::render_json_event(ev, line_);
  } else {
    line_.clear();
    char ts[16];
    time_t secs = static_cast<time_t>(ev.time_unix_ns / 1'000'000'000ull);
    tm local{};
    localtime_r(&secs, &local);
    std::strftime(ts, sizeof(ts), "%H:%M:%S", &local);
    size_t s = line_.size();
    line_ += ts;
    pad(line_, s, 12);
    if (columns_.empty()) {
      s = line_.size();
      line_.append(ev.probe);
      pad(line_, s, 6);
    }
    s = line_.size();
    exporters::append_number(line_, ev.pid);
    pad(line_, s, 7);
    s = line_.size();
    core::append_terminal_safe(line_, ev.comm);
    pad(line_, s, 16);
    if (!columns_.empty()) {
      s = line_.size();
      append_workload(line_, ev);
      pad(line_, s, kWorkloadWidth);
    }
    if (columns_.empty()) {
      for (size_t i = 0; i < ev.field_count; ++i) {
        line_.append(ev.fields[i].key);
        line_.push_back('=');
        append_value(line_, ev.fields[i]);
        line_.push_back(' ');
      }
      line_ += "workload=";
      append_workload(line_, ev);
    } else {
      for (auto c : columns_) {
        s = line_.size();
        const core::Field* f = ev.find(c);
        if (f)
          append_value(line_, *f);
        else
          line_.push_back('-');
        pad(line_, s, column_width(c));
      }
    }
    while (!line_.empty() && line_.back() == ' ') line_.pop_back();
  }
  line_.push_back('\n');
  pending_ += line_;
  printed_.fetch_add(1);
}

}  // namespace ksight::cli
