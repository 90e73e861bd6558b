#include "export/otlp.h"

#include <unistd.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "export/json_text.h"
#include "version.h"

namespace ksight::exporters {

namespace {

using nlohmann::json;

json attributes(const std::vector<std::pair<std::string, std::string>>& kv) {
  json out = json::array();
  for (const auto& [k, v] : kv) out.push_back({{"key", k}, {"value", {{"stringValue", v}}}});
  return out;
}

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

json series_attributes(const core::MetricDesc& d, const core::SeriesSnapshot& s) {
  json out = json::array();
  std::string_view kind;
  for (size_t i = 0; i < d.label_names.size() && i < s.labels.size(); ++i) {
    if (d.label_names[i] == "workload_kind") kind = s.labels[i];
  }
  for (size_t i = 0; i < d.label_names.size() && i < s.labels.size(); ++i) {
    std::string key = otel_attribute_name(d.label_names[i], kind);
    // An identity label without a value (no pod outside Kubernetes) is left
    // out, as Prometheus leaves out empty labels.
    if (key != d.label_names[i] && s.labels[i].empty()) continue;
    out.push_back({{"key", std::move(key)}, {"value", {{"stringValue", s.labels[i]}}}});
  }
  return out;
}

// UCUM units, from the Prometheus base-unit suffix.
std::string unit_of(const std::string& name) {
  auto has = [&](std::string_view suffix) { return name.find(suffix) != std::string::npos; };
  if (has("_seconds")) return "s";
  if (has("_bytes")) return "By";
  return "1";
}

}  // namespace

OtlpResource OtlpResource::for_this_host() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return {{{"service.name", "ksight"}, {"service.version", KSIGHT_VERSION}, {"host.name", host}}};
}

std::string otlp_metrics_json(const std::vector<core::FamilySnapshot>& families,
                              const OtlpResource& resource, uint64_t now_unix_ns) {
  json metrics = json::array();
  const std::string now = std::to_string(now_unix_ns);
  for (const auto& fam : families) {
    if (fam.series.empty()) continue;
    const core::MetricDesc& d = *fam.desc;
    json points = json::array();
    for (const auto& s : fam.series) {
      json p = {{"attributes", series_attributes(d, s)},
                {"startTimeUnixNano", std::to_string(core::mono_to_unix_ns(s.start_mono_ns))},
                {"timeUnixNano", now}};
      if (d.kind == core::MetricKind::histogram) {
        json counts = json::array();
        for (auto c : s.buckets) counts.push_back(std::to_string(c));
        p["count"] = std::to_string(s.count);
        p["sum"] = s.sum;
        p["bucketCounts"] = std::move(counts);
        p["explicitBounds"] = d.bounds;
      } else {
        p["asDouble"] = s.value;
      }
      points.push_back(std::move(p));
    }
    json m = {{"name", d.name}, {"description", d.help}, {"unit", unit_of(d.name)}};
    switch (d.kind) {
      case core::MetricKind::counter:
        // aggregationTemporality 2 = AGGREGATION_TEMPORALITY_CUMULATIVE
        m["sum"] = {{"aggregationTemporality", 2}, {"isMonotonic", true}, {"dataPoints", points}};
        break;
      case core::MetricKind::gauge:
        m["gauge"] = {{"dataPoints", points}};
        break;
      case core::MetricKind::histogram:
        m["histogram"] = {{"aggregationTemporality", 2}, {"dataPoints", points}};
        break;
    }
    metrics.push_back(std::move(m));
  }
  json doc = {
      {"resourceMetrics",
       json::array({{{"resource", {{"attributes", attributes(resource.attributes)}}},
                     {"scopeMetrics",
                      json::array({{{"scope", {{"name", "ksight"}, {"version", KSIGHT_VERSION}}},
                                    {"metrics", std::move(metrics)}}})}}})}};
  // Label values are sanitized by the registry; replacing here too means a
  // string from anywhere else can never make dump() throw.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
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
    return;
  }
  if (!records_.empty()) records_.push_back(',');
  records_ += r;
}

std::string OtlpLogBuffer::take_json(const OtlpResource& resource) {
  std::string records;
  {
    std::lock_guard lock(mu_);
    if (records_.empty()) return {};
    records.swap(records_);
    records_.reserve(records.capacity());
  }
  std::string out = "{\"resourceLogs\":[{\"resource\":{\"attributes\":";
  out += attributes(resource.attributes)
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += "},\"scopeLogs\":[{\"scope\":{\"name\":\"ksight\",\"version\":\"" KSIGHT_VERSION
         "\"},\"logRecords\":[";
  out += records;
  out += "]}]}]}";
  return out;
}

uint64_t OtlpLogBuffer::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace ksight::exporters
