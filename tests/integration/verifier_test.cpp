// Every attach variant of every probe through the kernel's verifier, whether
// or not this kernel can attach it: a fallback nobody loads is a fallback
// nobody knows works. Kprobe programs load (and so verify) even where kprobes
// cannot attach, which is how tcpconnlat's and tcprtt's kprobe variants get
// checked on a machine without kprobes.
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
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

// libbpf's messages of the load in progress: on a failure the verifier's own
// words (its log's last lines) go into the test's failure, which is all a
// kernel-matrix guest leaves behind.
std::string libbpf_messages;

int collect_libbpf_message(libbpf_print_level, const char* fmt, va_list args) {
  va_list again;
  va_copy(again, args);
  int n = std::vsnprintf(nullptr, 0, fmt, args);  // the verifier log is one message
  if (n > 0) {
    std::string text(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(text.data(), text.size(), fmt, again);
    text.resize(static_cast<size_t>(n));
    libbpf_messages += text;
  }
  va_end(again);
  return 0;
}

// The last `n` lines of the verifier log in libbpf's messages.
std::string verifier_log_tail(const std::string& messages, int n) {
  auto end = messages.rfind("-- END PROG LOAD LOG --");
  if (end == std::string::npos) end = messages.size();
  auto begin = end;
  for (int lines = 0; begin > 0 && lines <= n; --begin)
    if (messages[begin - 1] == '\n') ++lines;
  return messages.substr(begin, end - begin);
}

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
  libbpf_messages.clear();
  if (int err = bpf_object__load(obj.get()))
    return "load failed: " + std::to_string(err) + "\n" + verifier_log_tail(libbpf_messages, 12);
  return {};
}

TEST(Verifier, EveryVariantThisKernelCouldRunLoads) {
  KSIGHT_REQUIRE_BPF();
  // Failures carry the verifier's log; libbpf's own printing is restored after.
  struct PrintGuard {
    libbpf_print_fn_t old = libbpf_set_print(collect_libbpf_message);
    ~PrintGuard() { libbpf_set_print(old); }
  } print_guard;
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
