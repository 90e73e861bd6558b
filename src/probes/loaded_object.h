#pragma once
// The life cycle every probe object goes through, written once: open the
// skeleton, set the read-only configuration, adopt the shared event channel,
// keep only the chosen attach variant, load, attach. Owns the skeleton and the
// link; the link goes first on destruction, so nothing stays attached.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <expected>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "bpf/handles.h"
#include "ksight/abi/common.h"
#include "probes/probe.h"

namespace ksight::probes {

class LoadedObject {
 public:
  // Skel is a bpftool skeleton of an object that includes bpf/include/ksight.bpf.h.
  // `configure`, when given, sets the probe's own read-only data before load.
  template <class Skel, class Configure = std::nullptr_t>
  static std::expected<LoadedObject, std::string> load(const LoadRequest& req,
                                                       Configure configure = nullptr);

  // An object with no kernel side: map() finds nothing and drops() are zero.
  // For decoders driven without a kernel (the decoder fuzzer, unit tests).
  static LoadedObject detached() {
    return LoadedObject(SkelPtr(nullptr, [](void*) {}), nullptr, nullptr, {}, bpf::AttachMethod{});
  }

  // The kernel's ledger slots (KSIGHT_LEDGER_SLOTS: drops by KSIGHT_DROP_*
  // reason, then KSIGHT_COUNT_GENERATED and KSIGHT_COUNT_ERRORS).
  std::vector<uint64_t> drops() const;
  // How the object's records leave the kernel from now on (sampling,
  // shedding). False when it has no control map (a detached object).
  bool set_emit_control(const EmitControl& c) const;
  // Detaches every program, the object staying loaded with its maps and
  // counts; or attaches them again. Attaching may fail once privileges are
  // dropped (a perf event or tracepoint needs CAP_PERFMON).
  std::expected<void, std::string> set_attached(bool attached);
  bool attached() const { return !links_.empty(); }
  std::vector<ProgramStats> program_stats() const;
  ObjectInfo object_info() const;
  // A map of the object by name (nullptr when there is none).
  bpf_map* map(const char* name) const;
  // LoadRequest::per_process, for decoders that export per-process series.
  bool per_process() const { return per_process_; }
  // Deletes entries of dead cgroups from LoadRequest::cgroup_maps.
  size_t prune_cgroups(const std::function<bool(uint64_t)>& exists) const;

 private:
  using SkelPtr = std::unique_ptr<void, void (*)(void*)>;
  LoadedObject(SkelPtr skel, bpf_object* obj, bpf_map* drops, std::vector<bpf_program*> progs,
               bpf::AttachMethod method)
      : skel_(std::move(skel)),
        obj_(obj),
        drops_(drops),
        progs_(std::move(progs)),
        method_(method) {}
  static std::expected<std::vector<bpf_program*>, std::string> prepare(bpf_object* obj,
                                                                       bpf_map* events,
                                                                       const LoadRequest& req);
  // Token bucket constants for the kernel: {cost of a record, bucket size},
  // both in ns of credit per CPU; {0, 0} without a limit.
  static std::pair<uint64_t, uint64_t> rate_limit_ns(const LoadRequest& req);
  std::expected<void, std::string> attach(const LoadRequest& req);
  std::expected<void, std::string> attach_perf_event(bpf_program* prog, uint32_t frequency_hz);

  SkelPtr skel_;
  bpf_object* obj_;
  bpf_map* drops_;
  std::vector<bpf_program*> progs_;
  bool per_process_ = false;
  uint32_t sample_frequency_hz_ = 0;   // LoadRequest's, to attach again
  bool cgroup_filter_shared_ = false;  // LoadRequest::cgroup_filter_fd was adopted
  std::span<const CgroupMap> cgroup_maps_;
  bpf::AttachMethod method_;
  std::vector<bpf::Link> links_;  // declared last: detached first
};

template <class Skel, class Configure>
std::expected<LoadedObject, std::string> LoadedObject::load(const LoadRequest& req,
                                                            Configure configure) {
  Skel* raw = Skel::open();
  if (!raw) return std::unexpected(std::string("opening BPF object: ") + std::strerror(errno));
  SkelPtr skel(raw, [](void* p) { Skel::destroy(static_cast<Skel*>(p)); });

  auto* ro = raw->rodata;
  ro->ksight_use_ringbuf = req.channel->kind() == bpf::ChannelKind::ring_buffer;
  ro->ksight_wakeup_bytes = req.wakeup_bytes;
  ro->ksight_filter_tgid = req.filter_tgid;
  ro->ksight_filter_comm_set = !req.filter_comm.empty();
  ro->ksight_filter_cgroup = req.filter_cgroup;
  ro->ksight_filter_cgroup_set = req.cgroup_filter_fd >= 0;
  ro->ksight_filter_failed = req.filter_failed;
  std::tie(ro->ksight_rate_cost_ns, ro->ksight_rate_burst_ns) = rate_limit_ns(req);
  if constexpr (!std::is_same_v<Configure, std::nullptr_t>) configure(raw);
  if (req.cgroup_map_entries) {
    for (const auto& cm : req.cgroup_maps) {
      bpf_map* m = bpf_object__find_map_by_name(raw->obj, std::string(cm.name).c_str());
      if (m) bpf_map__set_max_entries(m, req.cgroup_map_entries);
    }
  }
  std::memset(ro->ksight_filter_comm, 0, sizeof(ro->ksight_filter_comm));
  std::memcpy(ro->ksight_filter_comm, req.filter_comm.data(),
              std::min(req.filter_comm.size(), sizeof(ro->ksight_filter_comm) - 1));

  auto progs = prepare(raw->obj, raw->maps.ksight_events, req);
  if (!progs) return std::unexpected(progs.error());
  if (int err = Skel::load(raw)) {
    return std::unexpected(std::string("loading BPF object: ") + std::strerror(-err));
  }
  LoadedObject lo(std::move(skel), raw->obj, raw->maps.ksight_drops, std::move(*progs),
                  req.variant->method);
  lo.per_process_ = req.per_process;
  lo.sample_frequency_hz_ = req.sample_frequency_hz;
  lo.cgroup_filter_shared_ = req.cgroup_filter_fd >= 0;
  lo.cgroup_maps_ = req.cgroup_maps;
  if (auto r = lo.attach(req); !r) return std::unexpected(r.error());
  return lo;
}

// A probe made of one loaded object and a decoder for its records. Most
// probes are exactly this; the decoder holds the metrics and the decoding.
template <class Decoder>
class ObjectProbe final : public Probe {
 public:
  template <class Skel, class Configure = std::nullptr_t>
  static std::expected<std::unique_ptr<Probe>, std::string> create(const LoadRequest& req,
                                                                   core::Registry& reg,
                                                                   Configure configure = nullptr) {
    auto obj = LoadedObject::load<Skel>(req, configure);
    if (!obj) return std::unexpected(obj.error());
    return std::unique_ptr<Probe>(new ObjectProbe(std::move(*obj), reg));
  }
  // For a decoder that needs more than the registry (e.g. names read from the
  // kernel's BTF before load).
  static std::unique_ptr<Probe> adopt(LoadedObject obj, Decoder decoder) {
    return std::unique_ptr<Probe>(new ObjectProbe(std::move(obj), std::move(decoder)));
  }

  bool decode(std::span<const std::byte> rec, core::Registry::Writer& w,
              core::EventView* ev) override {
    return decoder_.decode(rec, w, ev);
  }
  // Probes that aggregate in the kernel give their decoder a refresh().
  void refresh(core::Registry::Writer& w) override {
    if constexpr (requires { decoder_.refresh(w, obj_); }) decoder_.refresh(w, obj_);
  }
  size_t prune_cgroups(const std::function<bool(uint64_t)>& exists) override {
    return obj_.prune_cgroups(exists);
  }
  // Stack probes give their decoder a stack_source().
  StackSource* stack_source() override {
    if constexpr (requires { decoder_.stack_source(); })
      return decoder_.stack_source();
    else
      return nullptr;
  }
  std::vector<uint64_t> kernel_drops() const override { return obj_.drops(); }
  bool set_emit_control(const EmitControl& c) override { return obj_.set_emit_control(c); }
  std::expected<void, std::string> set_attached(bool attached) override {
    return obj_.set_attached(attached);
  }
  std::vector<ProgramStats> program_stats() const override { return obj_.program_stats(); }
  ObjectInfo object_info() const override { return obj_.object_info(); }

 private:
  ObjectProbe(LoadedObject obj, core::Registry& reg)
      : obj_(std::move(obj)), decoder_(make(reg, obj_)) {}
  ObjectProbe(LoadedObject obj, Decoder decoder)
      : obj_(std::move(obj)), decoder_(std::move(decoder)) {}
  // A decoder that prepares its maps after load takes the object too.
  static Decoder make(core::Registry& reg, LoadedObject& obj) {
    if constexpr (std::is_constructible_v<Decoder, core::Registry&, LoadedObject&>)
      return Decoder(reg, obj);
    else
      return Decoder(reg);
  }
  LoadedObject obj_;
  Decoder decoder_;
};

}  // namespace ksight::probes
