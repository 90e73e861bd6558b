#pragma once
// The script embedded in the flame graph SVG (flamegraph_script.cpp): hover
// details, click to zoom, "Reset Zoom", "Search" by regular expression.
#include <string_view>

namespace ksight::profile {

// What the script expects of the document: text elements #details (with a
// text node), #search, #unzoom and #matched; a <g id="frames"> whose
// attributes data-total, data-xpad, data-avail and data-charw give the total
// weight, the left margin, the drawable width and a character's width; in it
// one <g> per frame with data-s (the weight left of it, from the graph's left edge),
// data-v (its weight) and data-d (its depth), holding a <title>
// "name (...)", a <rect> and a <text>. It holds no "]]>", so it fits a
// CDATA section.
extern const std::string_view kFlamegraphScript;

}  // namespace ksight::profile
