#pragma once
// A flame graph SVG that ksight draws itself, behaving like flamegraph.pl's:
// the root at the bottom, each frame as wide as its share of the weight,
// siblings in name order, a hover title "name (N samples, P%)", click to zoom
// into a frame, "Reset Zoom", and "Search" by regular expression with the
// matched share shown.
#include <string>
#include <string_view>

#include "profile/folded.h"
#include "profile/stack_profile.h"

namespace ksight::profile {

struct SvgOptions {
  std::string title = "Flame Graph";
  std::string subtitle;  // e.g. the command line and the duration; none when empty
  int width = 1200;      // pixels
  int frame_height = 16;
  // Frames narrower than this are not drawn (nor their children); the graph
  // says how many were left out.
  double min_width_px = 0.1;
  // What the weights count, for the titles: "samples" for cpu profiles; pass
  // "us" for offcpu ones (their folded weights are microseconds).
  std::string count_name = "samples";
};

// The profile through folded() (with the kernel suffix, which picks the
// kernel colour, and `folded_options` for the process and workload frames).
std::string flamegraph_svg(const Profile& profile, const SvgOptions& options = {},
                           const FoldedOptions& folded_options = {});

// Any folded text, e.g. from a file: frames ending in "_[k]" are kernel ones.
std::string flamegraph_svg_from_folded(std::string_view folded_text,
                                       const SvgOptions& options = {});

}  // namespace ksight::profile
