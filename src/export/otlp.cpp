#include "export/otlp.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/text.h"
#include "export/json_text.h"
#include "version.h"

namespace ksight::exporters {

namespace {

struct IdentityName {
  std::string_view label;
  std::string_view attribute;
};
// Identity labels (identity::Resolver) under their OpenTelemetry semantic-
// convention names; `workload` is named by its kind (otel_attribute_name).
constexpr IdentityName kIdentityNames[] = {
    {"namespace", "k8s.namespace.name"}, {"pod", "k8s.pod.name"},
    {"container", "k8s.container.name"}, {"workload_kind", "ksight.workload.kind"},
    {"unit", "ksight.systemd.unit"},     {"cgroup", "ksight.cgroup.path"},
    {"cgroup_id", "ksight.cgroup_id"},   {"container_id", "container.id"},
    {"pod_uid", "k8s.pod.uid"},          {"qos", "ksight.k8s.pod.qos_class"},
    {"runtime", "container.runtime"},
};

// The metrics document is written as text, with no DOM in between, in the
// bytes nlohmann::json::dump() wrote for it before (its objects are ordered
// maps, hence the alphabetical keys below; tests/unit/otlp_json_test.cpp
// holds that encoder as the reference).

// A quoted string as dump() writes it: \b \t \n \f \r \" \\ short, other
// control bytes as \u00xx, everything else verbatim. Label values are valid
// UTF-8 (the registry sanitizes them); anything else gets U+FFFD per bad byte.
void append_string(std::string& out, std::string_view s) {
  std::string sanitized;
  if (!core::is_valid_utf8(s)) {
    sanitized = core::sanitize_utf8(s);
    s = sanitized;
  }
  out.push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

// A double as dump() writes it. Integers below 1e15 (at most 15 digits,
// where dump() writes digits and ".0") are written here; every other value
// goes through nlohmann itself, so its shortest-digits algorithm decides.
void append_double(std::string& out, double v) {
  if (std::fabs(v) < 1e15 && v == std::trunc(v) && !(v == 0 && std::signbit(v))) {
    append_number(out, static_cast<int64_t>(v));
    out += ".0";
    return;
  }
  out += nlohmann::json(v).dump();
}

// "123": OTLP/JSON's 64-bit integers are decimal strings.
void append_quoted(std::string& out, uint64_t v) {
  out.push_back('"');
  append_number(out, v);
  out.push_back('"');
}

void append_attributes(std::string& out,
                       const std::vector<std::pair<std::string, std::string>>& kv) {
  out.push_back('[');
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i) out.push_back(',');
    out += "{\"key\":";
    append_string(out, kv[i].first);
    out += ",\"value\":{\"stringValue\":";
    append_string(out, kv[i].second);
    out += "}}";
  }
  out.push_back(']');
}

// One family's label names as attribute keys, with what the semantic
// conventions make of them; `workload` depends on each series' kind.
struct AttributeKeys {
  std::vector<std::string> keys;  // quoted, escaped; empty for `workload`
  std::vector<bool> identity;     // renamed: left out when the value is empty
  int workload = -1;              // where `workload` is
  int workload_kind = -1;         // where `workload_kind` is
};

AttributeKeys attribute_keys(const core::MetricDesc& d) {
  AttributeKeys k;
  for (size_t i = 0; i < d.label_names.size(); ++i) {
    const std::string& name = d.label_names[i];
    if (name == "workload_kind") k.workload_kind = static_cast<int>(i);
    std::string key = otel_attribute_name(name, {});
    k.identity.push_back(key != name || name == "workload");
    k.keys.emplace_back();
    if (name == "workload") {
      k.workload = static_cast<int>(i);
    } else {
      append_string(k.keys.back(), key);
    }
  }
  return k;
}

void append_series_attributes(std::string& out, const core::MetricDesc& d,
                              const AttributeKeys& keys, const core::SeriesSnapshot& s) {
  const size_t n = std::min(d.label_names.size(), s.labels.size());
  out.push_back('[');
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    // An identity label without a value (no pod outside Kubernetes) is left
    // out, as Prometheus leaves out empty labels.
    if (keys.identity[i] && s.labels[i].empty()) continue;
    if (!first) out.push_back(',');
    first = false;
    out += "{\"key\":";
    if (static_cast<int>(i) == keys.workload) {
      std::string_view kind;
      if (keys.workload_kind >= 0 && static_cast<size_t>(keys.workload_kind) < n)
        kind = s.labels[static_cast<size_t>(keys.workload_kind)];
      append_string(out, otel_attribute_name(d.label_names[i], kind));
    } else {
      out += keys.keys[i];
    }
    out += ",\"value\":{\"stringValue\":";
    append_string(out, s.labels[i]);
    out += "}}";
  }
  out.push_back(']');
}

// UCUM units, from the Prometheus base-unit suffix.
std::string_view unit_of(const std::string& name) {
  auto has = [&](std::string_view suffix) { return name.find(suffix) != std::string::npos; };
  if (has("_seconds")) return "s";
  if (has("_bytes")) return "By";
  return "1";
}

void append_data_points(std::string& out, const core::FamilySnapshot& fam, std::string_view now) {
  const core::MetricDesc& d = *fam.desc;
  const AttributeKeys keys = attribute_keys(d);
  const bool histogram = d.kind == core::MetricKind::histogram;
  std::string bounds;  // the same for every point of the family
  if (histogram) {
    bounds.push_back('[');
    for (size_t i = 0; i < d.bounds.size(); ++i) {
      if (i) bounds.push_back(',');
      append_double(bounds, d.bounds[i]);
    }
    bounds.push_back(']');
  }
  out += "\"dataPoints\":[";
  for (size_t p = 0; p < fam.series.size(); ++p) {
    const core::SeriesSnapshot& s = fam.series[p];
    if (p) out.push_back(',');
    out.push_back('{');
    if (!histogram) {
      out += "\"asDouble\":";
      append_double(out, s.value);
      out.push_back(',');
    }
    out += "\"attributes\":";
    append_series_attributes(out, d, keys, s);
    if (histogram) {
      out += ",\"bucketCounts\":[";
      for (size_t i = 0; i < s.buckets.size(); ++i) {
        if (i) out.push_back(',');
        append_quoted(out, s.buckets[i]);
      }
      out += "],\"count\":";
      append_quoted(out, s.count);
      out += ",\"explicitBounds\":";
      out += bounds;
    }
    out += ",\"startTimeUnixNano\":";
    append_quoted(out, core::mono_to_unix_ns(s.start_mono_ns));
    if (histogram) {
      out += ",\"sum\":";
      append_double(out, s.sum);
    }
    out += ",\"timeUnixNano\":";
    out += now;
    out.push_back('}');
  }
  out.push_back(']');
}

// The kernel's log2 slots as exponential buckets at scale 0, nothing moved:
// slot 0 (value 0) is the zero count, slot k >= 1 is bucket index k - 2
// (include/ksight/abi/hist.h), so the counts start at offset -1. The last
// slot (+Inf) lands in the bucket after the last finite one: the only bucket
// whose upper bound can understate its values; count and sum stay exact.
void append_exponential_points(std::string& out, const core::FamilySnapshot& fam,
                               std::string_view now) {
  const core::MetricDesc& d = *fam.desc;
  const AttributeKeys keys = attribute_keys(d);
  out += "\"dataPoints\":[";
  for (size_t p = 0; p < fam.series.size(); ++p) {
    const core::SeriesSnapshot& s = fam.series[p];
    if (p) out.push_back(',');
    out += "{\"attributes\":";
    append_series_attributes(out, d, keys, s);
    out += ",\"count\":";
    append_quoted(out, s.count);
    out += ",\"positive\":{\"bucketCounts\":[";
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (i > 1) out.push_back(',');
      append_quoted(out, s.buckets[i]);
    }
    out += "],\"offset\":-1},\"scale\":0,\"startTimeUnixNano\":";
    append_quoted(out, core::mono_to_unix_ns(s.start_mono_ns));
    // Back in kernel units: the kernel summed integers, which the registry
    // scaled by log2_unit (1e-6); rounding undoes the scaling's last bit.
    out += ",\"sum\":";
    const double sum = s.sum / d.log2_unit;
    append_double(out, std::isfinite(sum) ? std::nearbyint(sum) : sum);
    out += ",\"timeUnixNano\":";
    out += now;
    out += ",\"zeroCount\":";
    append_quoted(out, s.buckets.empty() ? 0 : s.buckets[0]);
    out.push_back('}');
  }
  out.push_back(']');
}

// The long name of a UCUM unit, for metric names.
std::string_view unit_word(std::string_view ucum) {
  if (ucum == "us") return "microseconds";
  if (ucum == "ns") return "nanoseconds";
  if (ucum == "ms") return "milliseconds";
  return ucum;
}

}  // namespace

std::string exponential_histogram_name(const core::MetricDesc& d) {
  constexpr std::string_view kSeconds = "_seconds";
  std::string name = d.name;
  if (name.ends_with(kSeconds)) {
    name.resize(name.size() - kSeconds.size() + 1);
    name += unit_word(d.log2_ucum);
  }
  return name;
}

OtlpResource OtlpResource::for_this_host() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return {{{"service.name", "ksight"}, {"service.version", KSIGHT_VERSION}, {"host.name", host}}};
}

void append_otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const OtlpResource& resource, uint64_t now_unix_ns, std::string& out,
                              OtlpHistograms histograms) {
  std::string now;
  append_quoted(now, now_unix_ns);
  out += "{\"resourceMetrics\":[{\"resource\":{\"attributes\":";
  append_attributes(out, resource.attributes);
  out += "},\"scopeMetrics\":[{\"metrics\":[";
  bool first = true;
  for (const auto& fam : families) {
    if (fam.series.empty()) continue;
    const core::MetricDesc& d = *fam.desc;
    if (!first) out.push_back(',');
    first = false;
    out += "{\"description\":";
    append_string(out, d.help);
    if (d.kind == core::MetricKind::histogram && d.log2_unit > 0 &&
        histograms == OtlpHistograms::exponential) {
      out += ",\"exponentialHistogram\":{\"aggregationTemporality\":2,";
      append_exponential_points(out, fam, now);
      out += "},\"name\":";
      append_string(out, exponential_histogram_name(d));
      out += ",\"unit\":";
      append_string(out, d.log2_ucum);
      out += "}";
      continue;
    }
    switch (d.kind) {
      case core::MetricKind::counter:
        out += ",\"name\":";
        append_string(out, d.name);
        // aggregationTemporality 2 = AGGREGATION_TEMPORALITY_CUMULATIVE
        out += ",\"sum\":{\"aggregationTemporality\":2,";
        append_data_points(out, fam, now);
        out += ",\"isMonotonic\":true}";
        break;
      case core::MetricKind::gauge:
      case core::MetricKind::histogram:
        out += d.kind == core::MetricKind::gauge ? ",\"gauge\":{"
                                                 : ",\"histogram\":{\"aggregationTemporality\":2,";
        append_data_points(out, fam, now);
        out += "},\"name\":";
        append_string(out, d.name);
        break;
    }
    out += ",\"unit\":\"";
    out += unit_of(d.name);
    out += "\"}";
  }
  out += "],\"scope\":{\"name\":\"ksight\",\"version\":";
  append_string(out, KSIGHT_VERSION);
  out += "}}]}]}";
}

std::string otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const OtlpResource& resource, uint64_t now_unix_ns,
                              OtlpHistograms histograms) {
  // Roughly what a point with a few labels takes, so a large export is
  // written without growing (and copying) the buffer again and again.
  size_t points = 0;
  for (const auto& fam : families) points += fam.series.size();
  std::string out;
  out.reserve(1024 + points * 256);
  append_otlp_metrics_json(families, resource, now_unix_ns, out, histograms);
  return out;
}

std::string otel_attribute_name(std::string_view label, std::string_view workload_kind) {
  if (label == "workload") {
    // k8s.deployment.name, k8s.statefulset.name, k8s.daemonset.name,
    // k8s.job.name, k8s.cronjob.name, k8s.replicaset.name.
    std::string kind;
    for (char c : workload_kind)
      kind += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (kind.empty() || kind == "pod") return "ksight.workload.name";
    return "k8s." + kind + ".name";
  }
  for (const auto& n : kIdentityNames) {
    if (n.label == label) return std::string(n.attribute);
  }
  return std::string(label);
}

void OtlpLogBuffer::on_event(const core::EventView& ev) {
  std::string& r = scratch_;
  r.clear();
  const uint64_t observed = core::unix_ns();
  r += "{\"timeUnixNano\":\"";
  append_number(r, ev.time_unix_ns);
  r += "\",\"observedTimeUnixNano\":\"";
  append_number(r, observed);
  // severityNumber 9 = SEVERITY_NUMBER_INFO
  r += "\",\"severityNumber\":9,\"severityText\":\"INFO\",\"body\":{\"stringValue\":";
  append_json_string(r, ev.probe, InvalidUtf8::replace);
  r += "},\"attributes\":[{\"key\":\"event.name\",\"value\":{\"stringValue\":\"ksight.";
  r.append(ev.probe);
  r += "\"}},{\"key\":\"process.pid\",\"value\":{\"intValue\":\"";
  append_number(r, ev.pid);
  r += "\"}},{\"key\":\"thread.id\",\"value\":{\"intValue\":\"";
  append_number(r, ev.tid);
  r += "\"}},{\"key\":\"process.command\",\"value\":{\"stringValue\":";
  append_json_string(r, ev.comm, InvalidUtf8::replace);
  r += "}},{\"key\":\"ksight.cgroup_id\",\"value\":{\"intValue\":\"";
  append_number(r, ev.cgroup_id);
  r += "\"}}";
  if (ev.sample_period > 1) {  // kept with probability 1/period: weigh it by the period
    r += ",{\"key\":\"ksight.sample_period\",\"value\":{\"intValue\":\"";
    append_number(r, ev.sample_period);
    r += "\"}}";
  }
  std::string_view kind;
  for (const auto& [k, v] : ev.identity) {
    if (k == "workload_kind") kind = v;
  }
  for (const auto& [k, v] : ev.identity) {
    if (k == "cgroup_id") continue;  // already there, as a number
    r += ",{\"key\":";
    append_json_string(r, otel_attribute_name(k, kind));
    r += ",\"value\":{\"stringValue\":";
    append_json_string(r, v, InvalidUtf8::replace);
    r += "}}";
  }
  for (size_t i = 0; i < ev.field_count; ++i) {
    const core::Field& f = ev.fields[i];
    r += ",{\"key\":\"ksight.";
    r.append(f.key);  // field names are the probes' own identifiers
    r += "\",\"value\":{";
    switch (f.type) {
      case core::Field::Type::i64:
        r += "\"intValue\":\"";
        append_number(r, f.i);
        r += "\"";
        break;
      case core::Field::Type::u64:
        // OTLP has no unsigned type; our u64 fields are pids, uids and counts.
        r += "\"intValue\":\"";
        append_number(r, static_cast<int64_t>(f.u));
        r += "\"";
        break;
      case core::Field::Type::f64:
        r += "\"doubleValue\":";
        append_number(r, f.d);
        break;
      case core::Field::Type::str:
        r += "\"stringValue\":";
        append_json_string(r, f.s, InvalidUtf8::replace);
        break;
    }
    r += "}}";
  }
  r += "]}";

  std::lock_guard lock(mu_);
  if (records_.size() + r.size() + 1 > max_bytes_) {
    ++dropped_;
    ++ledger_[ev.probe].dropped;
    return;
  }
  ++pending_[ev.probe];
  if (!records_.empty()) records_.push_back(',');
  records_ += r;
}

std::string OtlpLogBuffer::take_json(const OtlpResource& resource, core::ProbeCounts* taken) {
  std::string records;
  {
    std::lock_guard lock(mu_);
    if (records_.empty()) return {};
    for (const auto& [probe, n] : pending_) outstanding_[probe] += n;
    if (taken) *taken = std::move(pending_);
    pending_.clear();
    records.swap(records_);
    records_.reserve(records.capacity());
  }
  std::string out = "{\"resourceLogs\":[{\"resource\":{\"attributes\":";
  append_attributes(out, resource.attributes);
  out += "},\"scopeLogs\":[{\"scope\":{\"name\":\"ksight\",\"version\":\"" KSIGHT_VERSION
         "\"},\"logRecords\":[";
  out += records;
  out += "]}]}]}";
  return out;
}

void OtlpLogBuffer::settle(const core::ProbeCounts& events, core::SinkOutcome outcome) {
  std::lock_guard lock(mu_);
  core::settle(ledger_, events, outcome);
  for (const auto& [probe, n] : events) {
    uint64_t& o = outstanding_[probe];
    o -= std::min(o, n);
  }
}

core::SinkLedger OtlpLogBuffer::ledger() const {
  std::lock_guard lock(mu_);
  core::SinkLedger out = ledger_;
  for (const auto& [probe, n] : pending_) out[probe].pending += n;
  for (const auto& [probe, n] : outstanding_) out[probe].pending += n;
  return out;
}

uint64_t OtlpLogBuffer::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace ksight::exporters
