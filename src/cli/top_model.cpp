#include "cli/top_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/text.h"

namespace ksight::cli {

namespace {

constexpr std::string_view kColumnNames[] = {"cpu", "execs", "syscalls", "opens",
                                             "tcp", "bytes", "retrans"};
constexpr std::string_view kHeadings[] = {"CPU%",  "EXECS/s", "SYSCALLS/s", "OPENS/s",
                                          "TCP/s", "KB/s",    "RETRANS/s"};

uint64_t field_u64(const core::EventView& ev, std::string_view key) {
  const core::Field* f = ev.find(key);
  if (!f) return 0;
  switch (f->type) {
    case core::Field::Type::u64:
      return f->u;
    case core::Field::Type::i64:
      return f->i > 0 ? static_cast<uint64_t>(f->i) : 0;
    case core::Field::Type::f64:
      return f->d > 0 ? static_cast<uint64_t>(f->d) : 0;
    case core::Field::Type::str:
      break;
  }
  return 0;
}

}  // namespace

std::optional<TopColumn> top_column_from_string(std::string_view s) {
  for (size_t i = 0; i < std::size(kColumnNames); ++i)
    if (kColumnNames[i] == s) return static_cast<TopColumn>(i);
  return std::nullopt;
}

std::optional<TopGroup> top_group_from_string(std::string_view s) {
  if (s == "process") return TopGroup::process;
  if (s == "container" || s == "cgroup") return TopGroup::container;
  if (s == "pod") return TopGroup::pod;
  if (s == "namespace") return TopGroup::namespace_;
  if (s == "unit") return TopGroup::unit;
  return std::nullopt;
}

std::string_view to_string(TopColumn c) {
  return kColumnNames[static_cast<size_t>(c)];
}

void TopModel::add(const std::string& key, std::string_view name, TopColumn c, double v) {
  Accumulated& a = events_[key];
  if (!name.empty()) a.name = name;
  a.counts[static_cast<size_t>(c)] += v;
}

void TopModel::on_event(const core::EventView& ev) {
  const std::string key =
      group_ == TopGroup::process ? std::to_string(ev.pid) : std::to_string(ev.cgroup_id);
  const std::string_view name = group_ == TopGroup::process ? ev.comm : std::string_view{};
  std::lock_guard lock(mu_);
  if (ev.probe == "exec") {
    add(key, name, TopColumn::execs, 1);
  } else if (ev.probe == "open") {
    add(key, name, TopColumn::opens, 1);
  } else if (ev.probe == "tcp") {
    // Records at connect, accept and close: a connection counts once it is
    // open; its bytes both ways come with its close.
    const core::Field* kind = ev.find("event");
    if (kind && kind->s == "close") {
      add(key, name, TopColumn::bytes,
          static_cast<double>(field_u64(ev, "tx_bytes") + field_u64(ev, "rx_bytes")));
    } else {
      add(key, name, TopColumn::tcp, 1);
    }
  } else if (ev.probe == "tcpretrans") {
    add(key, name, TopColumn::retrans, 1);
  }
}

void TopModel::add_counter_deltas(const std::vector<core::FamilySnapshot>& snapshot,
                                  std::string_view family, TopColumn column,
                                  std::map<std::string, Accumulated>& rows) {
  for (const auto& fam : snapshot) {
    if (fam.desc->name != family) continue;
    const auto& names = fam.desc->label_names;
    auto label = [&](const core::SeriesSnapshot& s, std::string_view l) -> std::string {
      for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == l) return s.labels[i];
      return {};
    };
    for (const auto& s : fam.series) {
      std::string series_key = std::string(family);
      for (const auto& l : s.labels) series_key += '\x1f' + l;
      double& last = last_counter_[series_key];
      double delta = s.value >= last ? s.value - last : s.value;  // a reset starts over
      last = s.value;
      if (delta <= 0) continue;
      std::string key = group_ == TopGroup::process ? label(s, "pid") : label(s, "cgroup_id");
      if (key.empty() || key == "__overflow__") continue;
      Accumulated& a = rows[key];
      if (group_ == TopGroup::process) {
        std::string comm = label(s, "comm");
        if (!comm.empty()) a.name = comm;
      }
      a.counts[static_cast<size_t>(column)] += delta;
    }
  }
}

std::vector<TopRow> TopModel::tick(const std::vector<core::FamilySnapshot>& snapshot,
                                   double seconds,
                                   const std::function<std::string(uint64_t)>& cgroup_name) {
  std::map<std::string, Accumulated> rows;
  {
    std::lock_guard lock(mu_);
    rows.swap(events_);
  }
  const bool by_process = group_ == TopGroup::process;
  add_counter_deltas(snapshot,
                     by_process ? "ksight_process_cpu_samples_total" : "ksight_cpu_samples_total",
                     TopColumn::cpu, rows);
  add_counter_deltas(snapshot,
                     by_process ? "ksight_process_syscalls_total" : "ksight_syscalls_total",
                     TopColumn::syscalls, rows);
  std::vector<TopRow> out;
  for (auto& [key, a] : rows) {
    TopRow r{key, a.name, {}};
    if (!by_process) r.name = cgroup_name(std::strtoull(key.c_str(), nullptr, 10));
    // Records with no owning task (a connection accepted on a listener older
    // than ksight, a retransmit in softirq) carry pid 0.
    if (by_process && key == "0" && r.name.empty()) r.name = "(no owner)";
    for (size_t c = 0; c < r.values.size(); ++c) r.values[c] = a.counts[c] / seconds;
    // Samples per second at sample_hz_ per busy CPU: percent of one CPU.
    r.values[static_cast<size_t>(TopColumn::cpu)] = a.counts[0] / seconds / sample_hz_ * 100.0;
    r.values[static_cast<size_t>(TopColumn::bytes)] /= 1024.0;
    out.push_back(std::move(r));
  }
  if (group_ == TopGroup::process || group_ == TopGroup::container) return out;
  // One row per pod, namespace or unit: the sum of its cgroups.
  std::map<std::string, std::pair<TopRow, size_t>> merged;
  for (auto& r : out) {
    auto [it, fresh] = merged.try_emplace(r.name, r, 1);
    if (fresh) continue;
    for (size_t c = 0; c < r.values.size(); ++c) it->second.first.values[c] += r.values[c];
    ++it->second.second;
  }
  out.clear();
  for (auto& [name, rc] : merged) {
    rc.first.key = std::to_string(rc.second);
    out.push_back(std::move(rc.first));
  }
  return out;
}

std::string render_top(std::vector<TopRow> rows, TopGroup group, TopColumn sort, size_t max_rows,
                       const std::string& header) {
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    if (a[sort] != b[sort]) return a[sort] > b[sort];
    return a[TopColumn::cpu] > b[TopColumn::cpu];
  });
  std::string out = header;
  char buf[512];
  const bool by_process = group == TopGroup::process;
  const char* key_heading = by_process ? "PID" : "CGROUP_ID";
  const char* name_heading = "CGROUP";
  switch (group) {
    case TopGroup::process:
      name_heading = "COMM";
      break;
    case TopGroup::container:
      break;
    case TopGroup::pod:
      name_heading = "POD";
      break;
    case TopGroup::namespace_:
      name_heading = "NAMESPACE";
      break;
    case TopGroup::unit:
      name_heading = "UNIT";
      break;
  }
  if (group != TopGroup::process && group != TopGroup::container) key_heading = "CGROUPS";
  std::snprintf(buf, sizeof(buf), "%-*s %-*s", by_process ? 8 : 14, key_heading,
                by_process ? 16 : 40, name_heading);
  out += buf;
  for (size_t c = 0; c < std::size(kHeadings); ++c) {
    std::string h(kHeadings[c]);
    if (static_cast<TopColumn>(c) == sort) h = "*" + h;
    std::snprintf(buf, sizeof(buf), " %11s", h.c_str());
    out += buf;
  }
  out += '\n';
  for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
    const TopRow& r = rows[i];
    // A comm or a cgroup path is whatever a process chose: no escapes reach the terminal.
    std::string name;
    core::append_terminal_safe(name, r.name);
    const size_t width = by_process ? 16 : 40;
    if (name.size() > width) name = "..." + name.substr(name.size() - width + 3);
    std::snprintf(buf, sizeof(buf), "%-*s %-*s", by_process ? 8 : 14, r.key.c_str(),
                  static_cast<int>(width), name.c_str());
    out += buf;
    for (double v : r.values) {
      std::snprintf(buf, sizeof(buf), " %11.1f", v);
      out += buf;
    }
    out += '\n';
  }
  return out;
}

}  // namespace ksight::cli
