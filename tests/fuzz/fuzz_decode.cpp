// Every probe's record decoder fed arbitrary bytes, as a broken or hostile
// kernel side could hand them over: decode must accept or refuse the record,
// never read past it. The first byte picks the probe; the rest is the record,
// copied to an 8-byte aligned buffer as the event channel guarantees.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "export/jsonlines.h"
#include "probes/biolatency.h"
#include "probes/cgroupnet.h"
#include "probes/exec.h"
#include "probes/exit.h"
#include "probes/loaded_object.h"
#include "probes/netdrop.h"
#include "probes/offcpu.h"
#include "probes/oomkill.h"
#include "probes/open.h"
#include "probes/profile.h"
#include "probes/runqlat.h"
#include "probes/signal.h"
#include "probes/syscalls.h"
#include "probes/tcp.h"
#include "probes/tcpconnlat.h"
#include "probes/tcpreset.h"
#include "probes/tcpretrans.h"
#include "probes/tcprtt.h"

using namespace ksight;
using namespace ksight::probes;

namespace {

using Decode =
    std::function<bool(std::span<const std::byte>, core::Registry::Writer&, core::EventView*)>;

struct Decoders {
  core::Registry reg;
  LoadedObject obj = LoadedObject::detached();
  std::vector<std::pair<std::string, Decode>> all;

  template <class D, class... Args>
  void add(const char* name, Args&&... args) {
    auto d = std::make_shared<D>(std::forward<Args>(args)...);
    all.emplace_back(name, [d](auto rec, auto& w, auto* ev) { return d->decode(rec, w, ev); });
  }

  Decoders() {
    add<ExecDecoder>("exec", reg);
    add<ExitDecoder>("exit", reg);
    add<OpenDecoder>("open", reg, obj);
    add<RunqlatDecoder>("runqlat", reg, obj);
    add<BiolatencyDecoder>("biolatency", reg, obj);
    add<SyscallsDecoder>("syscalls", reg, obj);
    add<OomkillDecoder>("oomkill", reg, obj);
    add<SignalDecoder>("signal", reg, obj);
    add<ProfileDecoder>("profile", reg, obj, nullptr);
    add<OffcpuDecoder>("offcpu", reg, obj, nullptr);
    add<TcpDecoder>("tcp", reg, obj);
    add<TcpretransDecoder>("tcpretrans", reg);
    add<TcpresetDecoder>("tcpreset", reg);
    add<TcprttDecoder>("tcprtt", reg, obj);
    add<NetdropDecoder>("netdrop", reg, std::vector<std::string>{"NOT_SPECIFIED", "NO_SOCKET"});
    add<CgroupnetDecoder>("cgroupnet", reg, obj);
    add<TcpconnlatDecoder>("tcpconnlat", reg, obj);
    // Every probe of the table has its decoder here.
    for (const auto& spec : probe_table()) {
      bool found = false;
      for (const auto& [name, fn] : all) found = found || name == spec.name;
      if (!found) {
        std::fprintf(stderr, "fuzz_decode: probe %.*s has no decoder here; add it\n",
                     static_cast<int>(spec.name.size()), spec.name.data());
        std::abort();
      }
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Decoders decoders;
  if (size == 0) return 0;
  auto& [name, decode] = decoders.all[data[0] % decoders.all.size()];
  // An exact-size heap copy, so ASan sees any read past the record.
  std::vector<std::byte> rec(size - 1);
  std::memcpy(rec.data(), data + 1, size - 1);
  core::EventView ev;
  auto w = decoders.reg.write(1);
  if (decode(rec, w, &ev)) {
    std::string line;
    exporters::render_json_event(ev, line);  // every field the decoder set must be readable
  }
  decode(rec, w, nullptr);
  return 0;
}
