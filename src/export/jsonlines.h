#pragma once
// Events as JSON lines: one object per event, fields flat, for jq and log
// shippers. Output is buffered and flushed at the end of each batch.
#include <cstdio>
#include <string>

#include "core/event.h"

namespace ksight::exporters {

// Renders one event as a JSON object (no newline) into `out`, replacing it.
void render_json_event(const core::EventView& ev, std::string& out);

class JsonLinesSink final : public core::EventSink {
 public:
  explicit JsonLinesSink(std::FILE* out) : out_(out) { line_.reserve(2048); }
  void on_event(const core::EventView& ev) override;
  void on_batch_end() override { std::fflush(out_); }

 private:
  std::FILE* out_;
  std::string line_;
};

}  // namespace ksight::exporters
