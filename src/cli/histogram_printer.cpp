#include "cli/histogram_printer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>

namespace ksight::cli {

namespace {

constexpr int kBarWidth = 40;

void print_one(std::FILE* out, const core::MetricDesc& d, const core::SeriesSnapshot& s) {
  std::string title;
  for (size_t i = 0; i < d.label_names.size(); ++i)
    title += d.label_names[i] + " = " + s.labels[i] + " ";
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
    // Bucket i below the last holds [2^i, 2^(i+1)) microseconds (0 and 1 in bucket 0).
    unsigned long long lo = i == 0 ? 0 : 1ull << i;
    std::string hi = i + 1 == s.buckets.size() ? "inf" : std::to_string((1ull << (i + 1)) - 1);
    int bar = max ? static_cast<int>(static_cast<double>(s.buckets[i]) * kBarWidth /
                                     static_cast<double>(max))
                  : 0;
    std::fprintf(out, "%10llu -> %-10s : %-10llu |%s%*s|\n", lo, hi.c_str(),
                 static_cast<unsigned long long>(s.buckets[i]),
                 std::string(static_cast<size_t>(bar), '*').c_str(), kBarWidth - bar, "");
  }
}

}  // namespace

size_t print_log2_histograms(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                             std::string_view name) {
  size_t printed = 0;
  for (const auto& fam : snapshot) {
    if (fam.desc->name != name) continue;
    for (const auto& s : fam.series) {
      if (s.count == 0) continue;
      print_one(out, *fam.desc, s);
      ++printed;
    }
  }
  std::fflush(out);
  return printed;
}

size_t print_totals(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                    std::string_view name) {
  size_t printed = 0;
  for (const auto& fam : snapshot) {
    if (fam.desc->name != name) continue;
    std::vector<size_t> width;
    for (const auto& l : fam.desc->label_names) width.push_back(std::max<size_t>(l.size(), 10));
    for (const auto& s : fam.series)
      for (size_t i = 0; i < s.labels.size() && i < width.size(); ++i)
        width[i] = std::max(width[i], s.labels[i].size());
    std::fprintf(out, "\n%s\n", fam.desc->name.c_str());
    for (size_t i = 0; i < width.size(); ++i) {
      std::string head = fam.desc->label_names[i];
      for (auto& c : head) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      std::fprintf(out, "%-*s ", static_cast<int>(width[i]), head.c_str());
    }
    std::fprintf(out, "VALUE\n");
    for (const auto& s : fam.series) {
      if (s.value == 0) continue;
      for (size_t i = 0; i < s.labels.size() && i < width.size(); ++i)
        std::fprintf(out, "%-*s ", static_cast<int>(width[i]), s.labels[i].c_str());
      std::fprintf(out, "%.0f\n", s.value);
      ++printed;
    }
  }
  std::fflush(out);
  return printed;
}

}  // namespace ksight::cli
