// exit probe: counts exits by command and by how the process ended (exit
// code, or the signal that killed it), and how long it lived.
#include "probes/exit.h"

#include <charconv>

#include "exit.skel.h"
#include "ksight/abi/exit.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

ExitDecoder::ExitDecoder(core::Registry& reg) {
  exits_ = reg.add({.name = "ksight_process_exits_total",
                    .help = "Process exits, by command, exit code (empty when killed by a "
                            "signal) and terminating signal (empty for a normal exit).",
                    .kind = core::MetricKind::counter,
                    .label_names = {"comm", "exit_code", "signal"}});
  lifetime_ = reg.add({.name = "ksight_process_lifetime_seconds",
                       .help = "How long exited processes lived, from fork to exit.",
                       .kind = core::MetricKind::histogram,
                       .bounds = {0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400},
                       .expires = false});
}

bool ExitDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer& w,
                         core::EventView* ev) {
  const auto* e = record_as<ksight_exit_event>(rec);
  if (!e) return false;
  std::string_view comm = c_string(e->hdr.comm);
  // wait(2) encoding: signal in bits 0-6, core dump in bit 7, status in 8-15.
  int sig = static_cast<int>(e->exit_code & 0x7f);
  int code = static_cast<int>((e->exit_code >> 8) & 0xff);
  std::string_view code_label, sig_label;
  if (sig) {
    sig_label = signal_name(sig);
  } else {
    auto [end, ec] = std::to_chars(code_buf_, code_buf_ + sizeof(code_buf_), code);
    code_label = std::string_view(code_buf_, static_cast<size_t>(end - code_buf_));
  }
  double lifetime_s = static_cast<double>(e->lifetime_ns) / 1e9;
  // Counted from the records: a sampled record stands for its period.
  const uint32_t weight = sample_weight(e->hdr);
  w.add(exits_, {comm, code_label, sig_label}, static_cast<double>(weight));
  for (uint32_t i = 0; i < weight; ++i) w.observe(lifetime_, {}, lifetime_s);
  if (!ev) return true;

  fill_header(*ev, "exit", e->hdr);
  ev->add_u64("ppid", e->ppid);
  if (sig) {
    ev->add_str("signal", sig_label);
    if (e->exit_code & 0x80) ev->add_u64("core_dumped", 1);
  } else {
    ev->add_i64("exit_code", code);
  }
  ev->add_f64("lifetime_s", lifetime_s);
  return true;
}

std::expected<std::unique_ptr<Probe>, std::string> create_exit_probe(const LoadRequest& req,
                                                                     core::Registry& reg) {
  return ObjectProbe<ExitDecoder>::create<exit_bpf>(req, reg);
}

}  // namespace ksight::probes
