// exec probe: counts execs by command and decodes the record for the sinks.
#include "probes/exec.h"

#include "exec.skel.h"
#include "ksight/abi/exec.h"
#include "probes/decode.h"
#include "probes/loaded_object.h"

namespace ksight::probes {

ExecDecoder::ExecDecoder(core::Registry& reg) {
  execs_ = reg.add({.name = "ksight_process_execs_total",
                    .help = "Successful execs (execve/execveat), by the new command name.",
                    .kind = core::MetricKind::counter,
                    .label_names = {"comm"}});
  args_.reserve(KSIGHT_EXEC_ARGS_LEN + 16);
}

bool ExecDecoder::decode(std::span<const std::byte> rec, core::Registry::Writer& w,
                         core::EventView* ev) {
  const auto* e = record_as<ksight_exec_event>(rec);
  if (!e) return false;
  std::string_view comm = c_string(e->hdr.comm);
  // Counted from the records: a sampled record stands for its period.
  w.add(execs_, {comm}, static_cast<double>(sample_weight(e->hdr)));
  if (!ev) return true;

  fill_header(*ev, "exec", e->hdr);
  ev->add_u64("ppid", e->ppid);
  ev->add_u64("uid", e->uid);
  ev->add_str("filename", c_string(e->filename));
  // argv arrives NUL-separated; show it the way a shell would.
  size_t len = std::min<size_t>(e->args_len, sizeof(e->args));
  args_.assign(e->args, len);
  while (!args_.empty() && args_.back() == '\0') args_.pop_back();
  for (auto& c : args_)
    if (c == '\0') c = ' ';
  if (e->args_truncated) args_ += " ...";
  ev->add_str("args", args_);
  return true;
}

std::expected<std::unique_ptr<Probe>, std::string> create_exec_probe(const LoadRequest& req,
                                                                     core::Registry& reg) {
  return ObjectProbe<ExecDecoder>::create<exec_bpf>(req, reg);
}

}  // namespace ksight::probes
