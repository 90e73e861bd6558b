#pragma once
// Events as JSON lines: one object per event, fields flat, for jq and log
// shippers. Events are formatted into a buffer (on_event runs under the
// registry lock) and written at the end of each batch, outside it, so a
// stalled reader of the output never stalls a scrape.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "core/event.h"
#include "export/output_file.h"

namespace ksight::exporters {

// Renders one event as a JSON object (no newline) into `out`, replacing it.
void render_json_event(const core::EventView& ev, std::string& out);

class JsonLinesSink final : public core::EventSink {
 public:
  explicit JsonLinesSink(OutputFile& out) : out_(out) { line_.reserve(2048); }
  void on_event(const core::EventView& ev) override;
  void on_batch_end() override;
  // Events that could not be written (disk full, a closed pipe).
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::string_view ledger_name() const override { return "events_file"; }
  core::SinkLedger ledger() const override;

 private:
  OutputFile& out_;
  std::string line_;
  std::string batch_;
  uint64_t batch_events_ = 0;
  std::atomic<uint64_t> dropped_{0};
  core::ProbeCounts batch_by_probe_;  // the batch's events; zeroed, not cleared (no allocation)
  mutable std::mutex ledger_mu_;
  core::SinkLedger ledger_;  // written: delivered; a failed write: failed
};

}  // namespace ksight::exporters
