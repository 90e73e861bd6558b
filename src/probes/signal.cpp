// signal probe: ksight_signals_total by signal, from the kernel's per-number
// count, and an event per fatal or interesting signal with sender and target.
#include "probes/signal.h"

#include <csignal>
#include <vector>

#include "ksight/abi/signal.h"
#include "probes/decode.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "signal.skel.h"

namespace ksight::probes {

namespace {

std::string_view result_name(int result) {
  // enum trace_signal_result in include/trace/events/signal.h
  static constexpr std::string_view kNames[] = {"delivered", "ignored", "already_pending",
                                                "overflow_fail", "lose_info"};
  return result >= 0 && result < 5 ? kNames[result] : "unknown";
}

}  // namespace

uint64_t signal_record_mask() {
  uint64_t mask = 0;
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL,
                  SIGSEGV, SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS})
    mask |= 1ull << sig;
  return mask;
}

SignalDecoder::SignalDecoder(core::Registry& reg, LoadedObject&) {
  signals_ = reg.add({.name = "ksight_signals_total",
                      .help = "Signals generated (sent by a process or raised by the kernel), by "
                              "signal.",
                      .kind = core::MetricKind::counter,
                      .label_names = {"signal"}});
}

bool SignalDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer&,
                           core::EventView* ev) {
  const auto* e = record_as<ksight_signal_event>(rec);
  if (!e) return false;
  if (!ev) return true;
  fill_header(*ev, "signal", e->hdr);
  ev->add_str("signal", signal_name(e->sig));
  ev->add_u64("target_pid", e->target_pid);
  ev->add_str("target_comm", c_string(e->target_comm));
  ev->add_i64("code", e->code);
  ev->add_str("result", result_name(e->result));
  return true;
}

void SignalDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  auto counts = sum_percpu_array(obj.map("signal_counts"), KSIGHT_SIGNAL_MAX);
  for (uint32_t sig = 1; sig < counts.size(); ++sig)
    if (counts[sig])
      w.set(signals_, {signal_name(static_cast<int>(sig))}, static_cast<double>(counts[sig]));
}

std::expected<std::unique_ptr<Probe>, std::string> create_signal_probe(const LoadRequest& req,
                                                                       core::Registry& reg) {
  return ObjectProbe<SignalDecoder>::create<signal_bpf>(
      req, reg, [](signal_bpf* skel) { skel->rodata->ksight_signal_mask = signal_record_mask(); });
}

}  // namespace ksight::probes
