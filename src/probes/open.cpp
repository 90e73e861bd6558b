// open probe: counts opens by result (ok, or the errno name) and decodes the
// record for the sinks.
#include "probes/open.h"

#include "ksight/abi/open.h"
#include "open.skel.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

OpenDecoder::OpenDecoder(core::Registry& reg) {
  opens_ = reg.add({.name = "ksight_file_opens_total",
                    .help = "File opens (openat, openat2), by result: ok, or the errno name of "
                            "the failure (ENOENT, EACCES, ...).",
                    .kind = core::MetricKind::counter,
                    .label_names = {"result"}});
}

bool OpenDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer& w,
                         core::EventView* ev) {
  const auto* e = record_as<ksight_open_event>(rec);
  if (!e) return false;
  std::string_view result = e->ret >= 0 ? std::string_view("ok") : errno_name(-e->ret);
  w.add(opens_, {result});
  if (!ev) return true;

  fill_header(*ev, "open", e->hdr);
  if (e->ret >= 0) {
    ev->add_i64("fd", e->ret);
  } else {
    ev->add_str("error", result);
  }
  ev->add_u64("flags", e->flags);
  ev->add_str("path", c_string(e->path));
  return true;
}

std::expected<std::unique_ptr<Probe>, std::string> create_open_probe(const LoadRequest& req,
                                                                     core::Registry& reg) {
  return ObjectProbe<OpenDecoder>::create<open_bpf>(req, reg);
}

}  // namespace ksight::probes
