#include "bpf/attach.h"

#include <array>

namespace ksight::bpf {

namespace {
constexpr std::array<std::pair<AttachMethod, std::string_view>, 7> kNames{{
    {AttachMethod::tp_btf, "tp_btf"},
    {AttachMethod::raw_tp, "raw_tp"},
    {AttachMethod::tracepoint, "tracepoint"},
    {AttachMethod::fentry, "fentry"},
    {AttachMethod::kprobe, "kprobe"},
    {AttachMethod::perf_event, "perf_event"},
    {AttachMethod::cgroup_skb, "cgroup_skb"},
}};
}  // namespace

std::string_view to_string(AttachMethod m) {
  for (const auto& [method, name] : kNames)
    if (method == m) return name;
  return "unknown";
}

std::optional<AttachMethod> attach_method_from_string(std::string_view s) {
  for (const auto& [method, name] : kNames)
    if (name == s) return method;
  return std::nullopt;
}

std::string VariantChoice::reason() const {
  std::string out;
  for (const auto& s : skipped) {
    if (!out.empty()) out += "; ";
    out += s;
  }
  return out;
}

VariantChoice choose_variant(std::span<const AttachVariant> variants, FeatureSource& features) {
  VariantChoice choice;
  for (const auto& v : variants) {
    Availability a = features.attach(v.method, v.target);
    if (a.ok) {
      choice.chosen = &v;
      return choice;
    }
    choice.skipped.push_back(std::string(to_string(v.method)) + " " + std::string(v.target) + ": " +
                             a.reason);
  }
  return choice;
}

}  // namespace ksight::bpf
