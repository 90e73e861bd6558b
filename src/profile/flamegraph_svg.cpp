#include "profile/flamegraph_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "core/text.h"
#include "profile/flamegraph_script.h"

namespace ksight::profile {

namespace {

constexpr double kFontSize = 12;
// Verdana's average advance at 12 px, for clipping names to their frame.
constexpr double kCharWidth = 0.59 * kFontSize;
constexpr double kXPad = 10;
constexpr std::string_view kKernelSuffix = "_[k]";

struct Node {
  std::string name;
  uint64_t weight = 0;
  std::map<std::string, size_t, std::less<>> children;  // name -> index in the tree
};

// Frames merged from the root: node 0 is "all", each path from it a stack.
struct Tree {
  std::vector<Node> nodes{Node{"all"}};
  size_t max_depth = 0;

  void add(const std::vector<std::string>& frames, uint64_t weight) {
    size_t at = 0;
    nodes[at].weight += weight;
    for (const std::string& frame : frames) {
      auto it = nodes[at].children.find(frame);
      size_t child;
      if (it == nodes[at].children.end()) {
        child = nodes.size();
        nodes[at].children.emplace(frame, child);
        nodes.push_back(Node{frame});
      } else {
        child = it->second;
      }
      nodes[child].weight += weight;
      at = child;
    }
    max_depth = std::max(max_depth, frames.size());
  }
};

// Text for XML character data and attribute values: markup characters as
// entities, and what XML 1.0 forbids (control characters, U+FFFE, U+FFFF,
// bytes that are not UTF-8) replaced, so the document always parses.
void append_xml(std::string& out, std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = core::utf8_sequence_length(s, i);
    if (len == 0) {
      out += core::kReplacementChar;
      ++i;
      continue;
    }
    std::string_view seq = s.substr(i, len);
    i += len;
    if (len == 1) {
      char c = seq[0];
      auto byte = static_cast<unsigned char>(c);
      if (c == '&')
        out += "&amp;";
      else if (c == '<')
        out += "&lt;";
      else if (c == '>')
        out += "&gt;";
      else if (c == '"')
        out += "&quot;";
      else if (c == '\'')
        out += "&apos;";
      else if (byte < 0x20 || byte == 0x7f)
        out += '?';
      else
        out += c;
    } else if (seq == "\xEF\xBF\xBE" || seq == "\xEF\xBF\xBF") {
      out += core::kReplacementChar;
    } else {
      out += seq;
    }
  }
}

std::string xml(std::string_view s) {
  std::string out;
  append_xml(out, s);
  return out;
}

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// 1234567 -> "1,234,567", as the titles show counts.
std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

bool is_kernel(std::string_view name) {
  return name.ends_with(kKernelSuffix);
}

// Warm (red to yellow) for user frames, blue-green for kernel ones; the shade
// is a hash of the name, so a function keeps its colour from graph to graph.
std::string colour(std::string_view name) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  double a = static_cast<double>(h & 0xff) / 255;
  double b = static_cast<double>((h >> 8) & 0xff) / 255;
  double c = static_cast<double>((h >> 16) & 0xff) / 255;
  int r, g, bl;
  if (is_kernel(name)) {
    r = 50 + static_cast<int>(60 * a);
    g = 150 + static_cast<int>(60 * b);
    bl = 190 + static_cast<int>(50 * c);
  } else {
    r = 205 + static_cast<int>(50 * a);
    g = 60 + static_cast<int>(170 * b);
    bl = static_cast<int>(55 * c);
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", r, g, bl);
  return buf;
}

// The name cut to what fits in `width` pixels, with ".." when cut; empty
// when not even three characters fit. Cut between UTF-8 sequences.
std::string clipped(std::string_view name, double width) {
  auto fits = static_cast<long>(std::floor((width - 6) / kCharWidth));
  if (fits < 3) return {};
  std::vector<size_t> starts;  // byte offset of each character
  for (size_t i = 0; i < name.size();) {
    starts.push_back(i);
    size_t len = core::utf8_sequence_length(name, i);
    i += len == 0 ? 1 : len;
  }
  if (starts.size() <= static_cast<size_t>(fits)) return std::string(name);
  return std::string(name.substr(0, starts[static_cast<size_t>(fits - 2)])) + "..";
}

struct Layout {
  double frame_height;
  double min_width;
  double avail;   // drawable width
  double bottom;  // y of the root frame's lower edge
  uint64_t total;
  std::string_view count_name;
};

struct Pending {
  size_t node;
  size_t depth;
  uint64_t start;  // weight left of this frame
};

// Appends the frames, parents before children; returns how many were too
// narrow to draw (with everything above them).
size_t draw_frames(std::string& out, const Tree& tree, const Layout& layout) {
  size_t omitted = 0;
  std::vector<Pending> todo{{0, 0, 0}};
  while (!todo.empty()) {
    Pending p = todo.back();
    todo.pop_back();
    const Node& node = tree.nodes[p.node];
    double w = static_cast<double>(node.weight) / static_cast<double>(layout.total) * layout.avail;
    if (w < layout.min_width) {
      std::vector<size_t> subtree{p.node};
      while (!subtree.empty()) {
        size_t n = subtree.back();
        subtree.pop_back();
        ++omitted;
        for (const auto& [name, child] : tree.nodes[n].children) subtree.push_back(child);
      }
      continue;
    }
    double x =
        kXPad + static_cast<double>(p.start) / static_cast<double>(layout.total) * layout.avail;
    double y = layout.bottom - static_cast<double>(p.depth + 1) * layout.frame_height;
    double share = 100.0 * static_cast<double>(node.weight) / static_cast<double>(layout.total);
    char pct[32];
    std::snprintf(pct, sizeof pct, "%.2f%%", share);

    out += "<g class=\"f\" data-s=\"" + std::to_string(p.start) + "\" data-v=\"" +
           std::to_string(node.weight) + "\" data-d=\"" + std::to_string(p.depth) + "\">";
    out += "<title>";
    append_xml(out, node.name);
    out += " (" + grouped(node.weight) + " ";
    append_xml(out, layout.count_name);
    out += ", " + std::string(pct) + ")</title>";
    out += "<rect x=\"" + fixed(x) + "\" y=\"" + fixed(y) + "\" width=\"" + fixed(w) +
           "\" height=\"" + fixed(layout.frame_height - 1) + "\" fill=\"" + colour(node.name) +
           "\" rx=\"2\" ry=\"2\"/>";
    out += "<text x=\"" + fixed(x + 3) + "\" y=\"" +
           fixed(y + (layout.frame_height + kFontSize) / 2 - 2) + "\">";
    append_xml(out, clipped(node.name, w));
    out += "</text></g>\n";

    // Children left to right in name order: pushed right to left.
    std::vector<Pending> children;
    uint64_t start = p.start;
    for (const auto& [name, child] : node.children) {
      children.push_back({child, p.depth + 1, start});
      start += tree.nodes[child].weight;
    }
    todo.insert(todo.end(), children.rbegin(), children.rend());
  }
  return omitted;
}

constexpr std::string_view kStyle = R"CSS(
text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }
#title { font-size: 17px; }
#search, #unzoom { cursor: pointer; }
.f:hover rect { stroke: black; stroke-width: 0.5; cursor: pointer; }
.hide { display: none; }
.parent { opacity: 0.5; }
)CSS";

}  // namespace

std::string flamegraph_svg_from_folded(std::string_view folded_text, const SvgOptions& options) {
  Tree tree;
  for (const auto& [frames, weight] : parse_folded(folded_text)) tree.add(frames, weight);

  double width = std::max(options.width, 100);
  double frame_height = std::max(options.frame_height, 4);
  double top = kFontSize * (options.subtitle.empty() ? 3 : 5);
  double graph_bottom = top + static_cast<double>(tree.max_depth + 1) * frame_height;
  Layout layout{frame_height, options.min_width_px, width - 2 * kXPad,
                graph_bottom, tree.nodes[0].weight, options.count_name};

  std::string frames;
  size_t omitted = 0;
  if (layout.total > 0) omitted = draw_frames(frames, tree, layout);
  // Below the graph: the hovered frame's details and the search share, then
  // the note on frames left out, if any.
  double line = kFontSize + 6;
  double bottom_text_y = graph_bottom + line + 4;
  double height = bottom_text_y + (omitted > 0 ? line : 0) + 10;

  std::string out;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  out += "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + fixed(width) +
         "\" height=\"" + fixed(height) + "\" viewBox=\"0 0 " + fixed(width) + " " + fixed(height) +
         "\" onload=\"fg_init()\">\n";
  out += "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">";
  out +=
      "<stop stop-color=\"#eeeeee\" offset=\"5%\"/><stop stop-color=\"#eeeeb0\" offset=\"95%\"/>";
  out += "</linearGradient></defs>\n";
  out += "<style type=\"text/css\">" + std::string(kStyle) + "</style>\n";
  out += "<script type=\"text/ecmascript\"><![CDATA[" + std::string(kFlamegraphScript) +
         "]]></script>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"" + fixed(width) + "\" height=\"" + fixed(height) +
         "\" fill=\"url(#background)\"/>\n";
  out += "<text id=\"title\" x=\"" + fixed(width / 2) + "\" y=\"" + fixed(kFontSize * 2) +
         "\" text-anchor=\"middle\">" + xml(options.title) + "</text>\n";
  if (!options.subtitle.empty())
    out += "<text id=\"subtitle\" x=\"" + fixed(width / 2) + "\" y=\"" + fixed(kFontSize * 4) +
           "\" text-anchor=\"middle\">" + xml(options.subtitle) + "</text>\n";
  out += "<text id=\"unzoom\" class=\"hide\" x=\"" + fixed(kXPad) + "\" y=\"" +
         fixed(kFontSize * 2) + "\">Reset Zoom</text>\n";
  out += "<text id=\"search\" x=\"" + fixed(width - kXPad) + "\" y=\"" + fixed(kFontSize * 2) +
         "\" text-anchor=\"end\">Search</text>\n";
  out += "<text id=\"details\" x=\"" + fixed(kXPad) + "\" y=\"" + fixed(bottom_text_y) +
         "\"> </text>\n";
  out += "<text id=\"matched\" x=\"" + fixed(width - kXPad) + "\" y=\"" + fixed(bottom_text_y) +
         "\" text-anchor=\"end\"> </text>\n";
  if (layout.total == 0)
    out += "<text x=\"" + fixed(width / 2) + "\" y=\"" + fixed(top + frame_height) +
           "\" text-anchor=\"middle\">No stacks in this profile</text>\n";
  if (omitted > 0)
    out += "<text id=\"omitted\" x=\"" + fixed(kXPad) + "\" y=\"" + fixed(bottom_text_y + line) +
           "\">" + std::to_string(omitted) + " frames narrower than " +
           fixed(options.min_width_px) + " px not drawn</text>\n";
  out += "<g id=\"frames\" data-total=\"" + std::to_string(layout.total) + "\" data-xpad=\"" +
         fixed(kXPad) + "\" data-avail=\"" + fixed(layout.avail) + "\" data-charw=\"" +
         fixed(kCharWidth) + "\">\n";
  out += frames;
  out += "</g>\n</svg>\n";
  return out;
}

std::string flamegraph_svg(const Profile& profile, const SvgOptions& options,
                           const FoldedOptions& folded_options) {
  FoldedOptions with_suffix = folded_options;
  with_suffix.kernel_suffix = true;  // how the renderer tells kernel frames apart
  return flamegraph_svg_from_folded(folded(profile, with_suffix), options);
}

}  // namespace ksight::profile
