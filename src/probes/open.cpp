// open probe: reads the kernel's count of opens by result (ok, or the errno
// name) at refresh, and decodes the records for the sinks. The counts come
// from the kernel so they stay exact when the rate limit drops records.
#include "probes/open.h"

#include "ksight/abi/open.h"
#include "open.skel.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

OpenDecoder::OpenDecoder(core::Registry& reg, LoadedObject&) {
  opens_ = reg.add({.name = "ksight_file_opens_total",
                    .help = "File opens (openat, openat2), by result: ok, or the errno name of "
                            "the failure (ENOENT, EACCES, ...).",
                    .kind = core::MetricKind::counter,
                    .label_names = {"result"}});
}

bool OpenDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                         core::EventView* ev) {
  const auto* e = record_as<ksight_open_event>(rec);
  if (!e) return false;
  if (!ev) return true;

  fill_header(*ev, "open", e->hdr);
  if (e->ret >= 0) {
    ev->add_i64("fd", e->ret);
  } else {
    ev->add_str("error", errno_name(-e->ret));
  }
  ev->add_u64("flags", e->flags);
  ev->add_str("path", c_string(e->path));
  return true;
}

void OpenDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  auto counts = sum_percpu_array(obj.map("open_results"), KSIGHT_OPEN_RESULTS);
  for (uint32_t slot = 0; slot < counts.size(); ++slot) {
    const uint64_t total = counts[slot];
    if (total == 0) continue;
    std::string_view result =
        slot == 0 ? std::string_view("ok") : errno_name(static_cast<int>(slot));
    w.set(opens_, {result}, static_cast<double>(total));
  }
}

std::expected<std::unique_ptr<Probe>, std::string> create_open_probe(const LoadRequest& req,
                                                                     core::Registry& reg) {
  return ObjectProbe<OpenDecoder>::create<open_bpf>(req, reg);
}

}  // namespace ksight::probes
