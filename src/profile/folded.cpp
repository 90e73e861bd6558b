#include "profile/folded.h"

#include <charconv>
#include <map>

#include "core/text.h"

namespace ksight::profile {

namespace {

constexpr std::string_view kKernelSuffix = "_[k]";

// A name ending in a space and digits: "foo 12 30" still parses as the stack
// "foo 12" with weight 30, but some readers split at the first space.
bool ends_in_space_digits(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9') --i;
  return i < s.size() && i > 0 && s[i - 1] == ' ';
}

std::string process_frame(const Sample& sample, ProcessFrame style) {
  std::string name = folded_frame_name(sample.comm.empty() ? "[unknown]" : sample.comm);
  switch (style) {
    case ProcessFrame::comm:
      break;
    case ProcessFrame::comm_dash_pid:
      name += '-';
      name += std::to_string(sample.pid);
      break;
    case ProcessFrame::comm_paren_pid:
      name += " (";
      name += std::to_string(sample.pid);
      name += ')';
      break;
  }
  return name;
}

std::string stack_line(const Sample& sample, const FoldedOptions& options) {
  std::string line;
  if (options.workload_root && !sample.workload.empty()) {
    line += folded_frame_name(sample.workload);
    line += ';';
  }
  line += process_frame(sample, options.process_frame);
  // The model is leaf first (kernel leaf .. kernel root, user leaf .. user
  // root); folded is root first, so the user root comes right after the
  // process and the kernel leaf ends the line.
  for (auto it = sample.frames.rbegin(); it != sample.frames.rend(); ++it) {
    line += ';';
    line += folded_frame_name(it->display());
    if (it->kernel && options.kernel_suffix) line += kKernelSuffix;
  }
  return line;
}

}  // namespace

std::string folded_frame_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size();) {
    size_t len = core::utf8_sequence_length(name, i);
    if (len == 0) {
      out += core::kReplacementChar;
      ++i;
      continue;
    }
    auto c = static_cast<unsigned char>(name[i]);
    if (len == 1 && (c < 0x20 || c == 0x7f)) {
      out += '?';
    } else if (c == ';') {
      out += ':';
    } else {
      out.append(name.substr(i, len));
    }
    i += len;
  }
  if (out.empty()) return "[unknown]";
  if (ends_in_space_digits(out)) out[out.find_last_not_of("0123456789")] = '_';
  return out;
}

std::string folded(const Profile& profile, const FoldedOptions& options) {
  // Merged on the unscaled values, so offcpu stacks of many sub-microsecond
  // blocks still add up before the division.
  std::map<std::string, uint64_t> weights;
  for (const Sample& sample : profile.samples) {
    uint64_t w = profile.kind == ProfileKind::cpu ? sample.count : sample.value_ns;
    weights[stack_line(sample, options)] += w;
  }
  std::string out;
  for (const auto& [stack, raw] : weights) {
    uint64_t weight = profile.kind == ProfileKind::cpu ? raw : raw / 1000;
    if (weight == 0) continue;
    out += stack;
    out += ' ';
    out += std::to_string(weight);
    out += '\n';
  }
  return out;
}

std::vector<FoldedStack> parse_folded(std::string_view text) {
  std::vector<FoldedStack> stacks;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    size_t space = line.rfind(' ');
    if (space == std::string_view::npos || space == 0) continue;
    std::string_view digits = line.substr(space + 1);
    uint64_t weight = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), weight);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) continue;

    std::vector<std::string> frames;
    std::string_view stack = line.substr(0, space);
    while (true) {
      size_t semi = stack.find(';');
      frames.emplace_back(stack.substr(0, semi));
      if (semi == std::string_view::npos) break;
      stack.remove_prefix(semi + 1);
    }
    stacks.emplace_back(std::move(frames), weight);
  }
  return stacks;
}

}  // namespace ksight::profile
