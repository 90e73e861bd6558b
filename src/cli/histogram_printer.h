#pragma once
// Log2 histograms as `ksight trace` prints them, one per label set, in the
// style of runqlat and biolatency: range, count, and a bar.
#include <cstdio>
#include <string_view>
#include <vector>

#include "core/registry.h"

namespace ksight::cli {

// Prints every series of the histogram family `name` in `snapshot`; values in
// seconds are shown in microseconds. Returns the number of series printed.
size_t print_log2_histograms(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                             std::string_view name);

// Prints the counter or gauge family `name` as a table: one column per label,
// then the value; series at 0 are left out. Returns the rows printed.
size_t print_totals(std::FILE* out, const std::vector<core::FamilySnapshot>& snapshot,
                    std::string_view name);

}  // namespace ksight::cli
