#pragma once
// What `ksight trace` prints for probes that aggregate in the kernel: log2
// histograms in the style of runqlat and biolatency (range, count, a bar),
// and counter tables.
#include <cstdio>
#include <string_view>
#include <vector>

#include "core/registry.h"

namespace ksight::cli {

// Prints the histogram family `name` in `snapshot`: one histogram summed over
// every series, or one per value of the label `by` (ksight trace --by).
// Values in seconds are shown in microseconds. Returns the number printed.
size_t print_log2_histograms(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                             std::string_view name, std::string_view by = {});

// Prints the counter family `name` as a table, largest first: a row per label
// set, or per value of the label `by`, at most `max_rows` of them. Returns the
// number of rows there were.
size_t print_counter_table(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                           std::string_view name, std::string_view by = {}, size_t max_rows = 25);

}  // namespace ksight::cli
