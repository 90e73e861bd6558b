#include "export/jsonlines.h"

#include <ctime>

#include "export/json_text.h"

namespace ksight::exporters {

std::string_view format_rfc3339(uint64_t unix_ns, char (&buf)[40]) {
  time_t secs = static_cast<time_t>(unix_ns / 1'000'000'000ull);
  tm utc{};
  gmtime_r(&secs, &utc);
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  int m = std::snprintf(buf + n, sizeof(buf) - n, ".%09lluZ",
                        static_cast<unsigned long long>(unix_ns % 1'000'000'000ull));
  return std::string_view(buf, n + static_cast<size_t>(m));
}

void render_json_event(const core::EventView& ev, std::string& out) {
  char ts[40];
  out.clear();
  out += "{\"time\":\"";
  out += format_rfc3339(ev.time_unix_ns, ts);
  out += "\",\"probe\":";
  append_json_string(out, ev.probe);
  out += ",\"pid\":";
  append_number(out, ev.pid);
  out += ",\"tid\":";
  append_number(out, ev.tid);
  out += ",\"comm\":";
  append_json_string(out, ev.comm);
  out += ",\"cgroup_id\":";
  append_number(out, ev.cgroup_id);
  if (ev.sample_period > 1) {  // absent: 1, every event of its kind is here
    out += ",\"sample_period\":";
    append_number(out, ev.sample_period);
  }
  for (const auto& [k, v] : ev.identity) {
    out.push_back(',');
    append_json_string(out, k);
    out.push_back(':');
    append_json_string(out, v);
  }
  for (size_t i = 0; i < ev.field_count; ++i) {
    out.push_back(',');
    append_json_string(out, ev.fields[i].key);
    out.push_back(':');
    append_field_value(out, ev.fields[i]);
  }
  out.push_back('}');
}

void JsonLinesSink::on_event(const core::EventView& ev) {
  render_json_event(ev, line_);
  batch_ += line_;
  batch_.push_back('\n');
  ++batch_events_;
  ++batch_by_probe_[ev.probe];
}

core::SinkLedger JsonLinesSink::ledger() const {
  std::lock_guard lock(ledger_mu_);
  core::SinkLedger out = ledger_;
  // The batch not yet written. on_event() adds to it under the registry's
  // lock, which our caller holds; on_batch_end() empties it under ours.
  for (const auto& [probe, n] : batch_by_probe_) out[probe].pending += n;
  return out;
}

void JsonLinesSink::on_batch_end() {
  if (batch_.empty()) return;
  const bool written = out_.write(batch_);
  if (!written) dropped_.fetch_add(batch_events_, std::memory_order_relaxed);
  {
    std::lock_guard lock(ledger_mu_);
    core::settle(ledger_, batch_by_probe_,
                 written ? core::SinkOutcome::delivered : core::SinkOutcome::failed);
    for (auto& [probe, n] : batch_by_probe_) n = 0;
  }
  batch_.clear();
  batch_events_ = 0;
}

}  // namespace ksight::exporters
