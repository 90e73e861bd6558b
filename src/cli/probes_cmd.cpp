// ksight probes: what this kernel allows, probe by probe, without loading any.
#include <bpf/btf.h>

#include <cstdio>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "bpf/features.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "probes/probe.h"

namespace ksight::cli {

int run_probes(const ProbesFlags& flags) {
  std::set<std::string> disabled(flags.disable_features.begin(), flags.disable_features.end());
  bpf::KernelFeatures features(disabled);
  auto rb = features.ringbuf();
  // What a probe cannot report on this kernel, although it loads.
  std::unique_ptr<struct btf, decltype(&btf__free)> vmlinux(btf__load_vmlinux_btf(), btf__free);
  nlohmann::json out = nlohmann::json::array();
  if (!flags.json) {
    std::printf("event channel: %s\n\n",
                rb.ok ? "ring buffer" : ("perf buffer (" + rb.reason + ")").c_str());
    std::printf("%-11s %-9s %-8s %-11s %-27s %s\n", "PROBE", "AVAILABLE", "DEFAULT", "ATTACH",
                "TARGET", "NOTES");
  }
  for (const auto& spec : probes::probe_table()) {
    auto choice = bpf::choose_variant(spec.variants, features);
    std::string method = choice.chosen ? std::string(bpf::to_string(choice.chosen->method)) : "-";
    std::string target = choice.chosen ? std::string(choice.chosen->target) : "-";
    std::string notes = choice.chosen ? (choice.skipped.empty() ? std::string(spec.summary)
                                                                : "fallback: " + choice.reason())
                                      : choice.reason();
    const std::string limits =
        choice.chosen ? probes::kernel_limits(spec.name, vmlinux.get()) : std::string();
    if (!limits.empty()) notes += "; limited: " + limits;
    if (flags.json) {
      out.push_back({{"probe", spec.name},
                     {"available", choice.chosen != nullptr},
                     {"default", spec.default_on},
                     {"attach", method},
                     {"target", target},
                     {"reason", choice.chosen ? "" : choice.reason()},
                     {"limits", limits},
                     {"summary", spec.summary}});
    } else {
      std::printf("%-11s %-9s %-8s %-11s %-27s %s\n", std::string(spec.name).c_str(),
                  choice.chosen ? "yes" : "no", spec.default_on ? "on" : "off", method.c_str(),
                  target.c_str(), notes.c_str());
    }
  }
  if (flags.json)
    std::printf("%s\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return kExitOk;
}

}  // namespace ksight::cli
