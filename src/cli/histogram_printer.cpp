#include "cli/histogram_printer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "core/text.h"

namespace ksight::cli {

namespace {

constexpr int kBarWidth = 40;

void print_one(std::FILE* out, const std::string& title, const core::SeriesSnapshot& s) {
  std::fprintf(out, "\n%s(%llu samples, mean %.1f usecs)\n", title.c_str(),
               static_cast<unsigned long long>(s.count),
               s.count ? s.sum * 1e6 / static_cast<double>(s.count) : 0.0);
  std::fprintf(out, "%24s : %-10s distribution\n", "usecs", "count");
  size_t first = 0, last = s.buckets.size();
  while (first < last && s.buckets[first] == 0) ++first;
  while (last > first && s.buckets[last - 1] == 0) --last;
  uint64_t max = 0;
  for (size_t i = first; i < last; ++i) max = std::max(max, s.buckets[i]);
  for (size_t i = first; i < last; ++i) {
    // The kernel's slots (include/ksight/abi/hist.h), in microseconds: 0, 1,
    // then (2^(i-2), 2^(i-1)], the last one open-ended; the same ranges as
    // the Prometheus `le` bounds and the OTLP exponential buckets.
    const auto lo = static_cast<unsigned long long>(i == 0 ? 0 : core::log2_slot_upper(i - 1) + 1);
    std::string hi = i + 1 == s.buckets.size() ? "inf" : std::to_string(core::log2_slot_upper(i));
    int bar = max ? static_cast<int>(static_cast<double>(s.buckets[i]) * kBarWidth /
                                     static_cast<double>(max))
                  : 0;
    std::fprintf(out, "%10llu -> %-10s : %-10llu |%s%*s|\n", lo, hi.c_str(),
                 static_cast<unsigned long long>(s.buckets[i]),
                 std::string(static_cast<size_t>(bar), '*').c_str(), kBarWidth - bar, "");
  }
}

// Index of `label` in the family's labels, or -1 (also for an empty label).
int label_index(const core::MetricDesc& d, std::string_view label) {
  for (size_t i = 0; i < d.label_names.size(); ++i)
    if (!label.empty() && d.label_names[i] == label) return static_cast<int>(i);
  return -1;
}

}  // namespace

size_t print_log2_histograms(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                             std::string_view name, std::string_view by) {
  size_t printed = 0;
  for (const auto& fam : snapshot) {
    if (fam.desc->name != name) continue;
    // One histogram per value of `by`, the other labels summed over.
    const int by_index = label_index(*fam.desc, by);
    std::map<std::string, core::SeriesSnapshot> groups;
    for (const auto& s : fam.series) {
      if (s.count == 0) continue;
      // Label values come from the kernel (comm, paths): escaped for the terminal.
      std::string key;
      if (by_index >= 0) core::append_terminal_safe(key, s.labels[static_cast<size_t>(by_index)]);
      auto [it, fresh] = groups.try_emplace(key);
      core::SeriesSnapshot& g = it->second;
      if (fresh) g.buckets.assign(s.buckets.size(), 0);
      for (size_t i = 0; i < s.buckets.size() && i < g.buckets.size(); ++i)
        g.buckets[i] += s.buckets[i];
      g.count += s.count;
      g.sum += s.sum;
    }
    for (const auto& [key, g] : groups) {
      print_one(out, by_index < 0 ? "" : std::string(by) + " = " + key + " ", g);
      ++printed;
    }
  }
  std::fflush(out);
  return printed;
}

size_t print_counter_table(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                           std::string_view name, std::string_view by, size_t max_rows) {
  for (const auto& fam : snapshot) {
    if (fam.desc->name != name) continue;
    const core::MetricDesc& d = *fam.desc;
    const int by_index = label_index(d, by);
    std::vector<std::string> columns;
    if (by_index >= 0) {
      columns.push_back(std::string(by));
    } else {
      columns = d.label_names;
    }
    std::map<std::vector<std::string>, double> rows;
    for (const auto& s : fam.series) {
      std::vector<std::string> key;
      for (size_t i = 0; i < s.labels.size(); ++i) {
        if (by_index >= 0 && i != static_cast<size_t>(by_index)) continue;
        core::append_terminal_safe(key.emplace_back(), s.labels[i]);
      }
      rows[key] += s.value;
    }
    std::vector<std::pair<double, std::vector<std::string>>> sorted;
    for (auto& [k, v] : rows)
      if (v > 0) sorted.emplace_back(v, k);
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::vector<size_t> widths;
    for (const auto& c : columns) widths.push_back(std::max<size_t>(c.size(), 8));
    for (size_t r = 0; r < sorted.size() && r < max_rows; ++r)
      for (size_t i = 0; i < widths.size() && i < sorted[r].second.size(); ++i)
        widths[i] = std::max(widths[i], sorted[r].second[i].size());
    std::fprintf(out, "\n%s\n", d.name.c_str());
    for (size_t i = 0; i < columns.size(); ++i)
      std::fprintf(out, "%-*s  ", static_cast<int>(widths[i]), columns[i].c_str());
    std::fprintf(out, "%12s\n", "count");
    for (size_t r = 0; r < sorted.size() && r < max_rows; ++r) {
      for (size_t i = 0; i < columns.size() && i < sorted[r].second.size(); ++i)
        std::fprintf(out, "%-*s  ", static_cast<int>(widths[i]), sorted[r].second[i].c_str());
      std::fprintf(out, "%12.0f\n", sorted[r].first);
    }
    if (sorted.size() > max_rows) std::fprintf(out, "(%zu more rows)\n", sorted.size() - max_rows);
    std::fflush(out);
    return sorted.size();
  }
  return 0;
}

}  // namespace ksight::cli
