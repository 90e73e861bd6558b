// Every attach variant of every probe through the kernel's verifier, whether
// or not this kernel can attach it: a fallback nobody loads is a fallback
// nobody knows works. Kprobe programs load (and so verify) even where kprobes
// cannot attach, which is how tcpconnlat's and tcprtt's kprobe variants get
// checked on a machine without kprobes.
#include <bpf/libbpf.h>

#include <memory>
#include <string>

#include "bpf/features.h"
#include "harness.h"
#include "probes/probe.h"

namespace ksight::test {
namespace {

struct ObjectClose {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};

// Loads the variant's programs of bpf/<probe>.bpf.o, nothing attached. Empty
// string on success, else libbpf's error.
std::string load_variant(std::string_view probe, const bpf::AttachVariant& v) {
  const std::string path = std::string(KSIGHT_SKEL_DIR) + "/" + std::string(probe) + ".bpf.o";
  std::unique_ptr<bpf_object, ObjectClose> obj(bpf_object__open_file(path.c_str(), nullptr));
  if (!obj) return "cannot open " + path;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj.get()) {
    bpf_program__set_autoload(prog, v.uses(bpf_program__name(prog)));
  }
  if (int err = bpf_object__load(obj.get())) return "load failed: " + std::to_string(err);
  return {};
}

TEST(Verifier, EveryVariantThisKernelCouldRunLoads) {
  KSIGHT_REQUIRE_BPF();
  libbpf_set_print(nullptr);  // failures are reported below, not as libbpf's log
  bpf::KernelFeatures features;
  int loaded = 0, kprobe_only_verified = 0;
  for (const auto& spec : probes::probe_table()) {
    for (const auto& v : spec.variants) {
      SCOPED_TRACE(std::string(spec.name) + " " + std::string(bpf::to_string(v.method)) + " " +
                   std::string(v.target));
      auto avail = features.attach(v.method, v.target);
      // Kprobe programs need no kprobe to load: verify them anyway.
      bool loadable = avail.ok || v.method == bpf::AttachMethod::kprobe;
      if (!loadable) continue;  // e.g. fentry refused here: the load would fail the same way
      EXPECT_EQ(load_variant(spec.name, v), "");
      ++loaded;
      kprobe_only_verified += !avail.ok;
    }
  }
  std::printf(
      "[ verifier ] %d variants loaded, %d of them kprobe variants this kernel cannot "
      "attach\n",
      loaded, kprobe_only_verified);
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace ksight::test
