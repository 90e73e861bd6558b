#pragma once
// Feature probing against the running kernel, in one place. Every answer is
// cached; the kernel is asked once per (method, target). User overrides can
// switch a feature off so tests and operators can force a fallback path.
#include <map>
#include <set>
#include <string>
#include <utility>

#include "bpf/attach.h"

struct btf;

namespace ksight::bpf {

class KernelFeatures final : public FeatureSource {
 public:
  // `disabled` names features to treat as missing: attach method names
  // ("tp_btf", "fentry", ...) and "ringbuf".
  explicit KernelFeatures(std::set<std::string> disabled = {});
  ~KernelFeatures() override;
  KernelFeatures(const KernelFeatures&) = delete;
  KernelFeatures& operator=(const KernelFeatures&) = delete;

  Availability ringbuf() override;
  Availability attach(AttachMethod method, std::string_view target) override;

  Availability btf();  // /sys/kernel/btf/vmlinux loads
  // Frees the parsed kernel BTF (several MiB) once the probes are attached;
  // answers already given stay cached, and a later question reloads it.
  void release_btf();
  Availability tracefs();    // mounted, or mounted by us at /sys/kernel/tracing
  Availability kprobes();    // a kprobe PMU or kprobe_events
  Availability bpf_stats();  // BPF_ENABLE_STATS works
  // Directory holding events/ (e.g. /sys/kernel/tracing); empty when none.
  const std::string& tracefs_dir();

 private:
  Availability probe_attach(AttachMethod method, std::string_view target);
  Availability load_tracing_prog(int attach_type, int btf_id, std::string_view what);
  std::set<std::string> disabled_;
  std::map<std::pair<AttachMethod, std::string>, Availability> cache_;
  std::map<std::string, Availability> misc_;
  struct ::btf* vmlinux_ = nullptr;
  bool btf_loaded_ = false;
  std::string btf_error_;
  std::string tracefs_dir_;
  bool tracefs_checked_ = false;
};

}  // namespace ksight::bpf
