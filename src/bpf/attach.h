#pragma once
// Attach methods, the kernel features that gate them, and the one function
// that picks a probe's attach variant. No libbpf here, so the choice can be
// unit-tested against a fake kernel.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ksight::bpf {

// In order of preference, cheapest and most robust first.
enum class AttachMethod : uint8_t {
  tp_btf,
  raw_tp,
  tracepoint,
  fentry,
  kprobe,
  perf_event,
  cgroup_skb,
};

std::string_view to_string(AttachMethod m);
std::optional<AttachMethod> attach_method_from_string(std::string_view s);

// One way to attach a probe: how, to what, and which programs in the object
// (a syscall probe pairs an enter and an exit program; unused slots are empty).
struct AttachVariant {
  static constexpr size_t kMaxPrograms = 4;
  AttachMethod method;
  std::string_view target;  // tracepoint "sched/sched_process_exec", or a kernel function
  std::array<std::string_view, kMaxPrograms> programs;

  bool uses(std::string_view program) const {
    for (auto p : programs)
      if (!p.empty() && p == program) return true;
    return false;
  }
};

struct Availability {
  bool ok = false;
  std::string reason;  // why not, when !ok
};

// What the running kernel can do. KernelFeatures (features.h) asks the kernel;
// tests hand in a fake.
class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  virtual Availability ringbuf() = 0;
  virtual Availability attach(AttachMethod method, std::string_view target) = 0;
};

struct VariantChoice {
  const AttachVariant* chosen = nullptr;  // null: no variant can attach
  // One line per variant passed over, "fentry tcp_v4_connect: <reason>".
  std::vector<std::string> skipped;
  std::string reason() const;  // all skipped reasons, joined
};

// Picks the first variant, in the order given, that the kernel supports.
VariantChoice choose_variant(std::span<const AttachVariant> variants, FeatureSource& features);

}  // namespace ksight::bpf
