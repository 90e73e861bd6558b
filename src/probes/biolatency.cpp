// biolatency probe: per disk and operation, the latency histogram and the
// bytes completed, named after the device (vda, nvme0n1).
#include "probes/biolatency.h"

#include <fstream>

#include "biolatency.skel.h"
#include "ksight/abi/biolatency.h"
#include "probes/kernel_maps.h"
#include "probes/loaded_object.h"
#include "probes/runqlat.h"

namespace ksight::probes {

namespace {

std::string_view op_name(uint32_t op) {
  switch (op) {
    case KSIGHT_BIO_READ:
      return "read";
    case KSIGHT_BIO_WRITE:
      return "write";
    case KSIGHT_BIO_FLUSH:
      return "flush";
    case KSIGHT_BIO_DISCARD:
      return "discard";
    default:
      return "other";
  }
}

}  // namespace

std::string block_device_name(uint32_t major, uint32_t minor) {
  const std::string id = std::to_string(major) + ":" + std::to_string(minor);
  std::ifstream uevent("/sys/dev/block/" + id + "/uevent");
  for (std::string line; std::getline(uevent, line);) {
    if (line.starts_with("DEVNAME=")) return line.substr(8);
  }
  return id;
}

BiolatencyDecoder::BiolatencyDecoder(core::Registry& reg, LoadedObject& obj) {
  latency_ = reg.add(
      log2_us_histogram({.name = "ksight_block_io_latency_seconds",
                         .help = "Block I/O latency, from the request's issue to the driver to its "
                                 "completion, by disk and operation (read, write, flush, discard, "
                                 "other).",
                         .kind = core::MetricKind::histogram,
                         .label_names = {"disk", "op"}}));
  bytes_ = reg.add({.name = "ksight_block_io_bytes_total",
                    .help = "Bytes of completed block I/O requests, by disk and operation.",
                    .kind = core::MetricKind::counter,
                    .label_names = {"disk", "op"}});
  // Where the kernel counts once its map is full.
  create_percpu_entry<ksight_bio_key, ksight_bio_value>(obj.map("bio_latency"),
                                                        {.op = KSIGHT_BIO_OTHER});
}

const std::string& BiolatencyDecoder::disk_name(uint32_t major, uint32_t minor) {
  auto [it, fresh] = disks_.try_emplace({major, minor});
  if (fresh) it->second = block_device_name(major, minor);
  return it->second;
}

void BiolatencyDecoder::refresh(core::Registry::Writer& w, const LoadedObject& obj) {
  for_each_percpu<ksight_bio_key, ksight_bio_value>(
      obj.map("bio_latency"),
      [&](const ksight_bio_key& key, std::span<const ksight_bio_value> per_cpu) {
        SummedHistogram h;
        uint64_t bytes = 0;
        for (const auto& v : per_cpu) {
          h.add(v.latency);
          bytes += v.bytes;
        }
        if (h.count == 0) return;
        std::string_view labels[] = {disk_name(key.major, key.minor), op_name(key.op)};
        w.set_histogram(latency_, labels, h.buckets, static_cast<double>(h.sum) * 1e-6);
        w.set(bytes_, labels, static_cast<double>(bytes));
      });
}

std::expected<std::unique_ptr<Probe>, std::string> create_biolatency_probe(const LoadRequest& req,
                                                                           core::Registry& reg) {
  return ObjectProbe<BiolatencyDecoder>::create<biolatency_bpf>(req, reg);
}

}  // namespace ksight::probes
