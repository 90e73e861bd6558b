#pragma once
// `ksight trace` output: aligned columns with a header (one probe), or
// "key=value" details when several probes share the screen, or JSON lines.
#include <atomic>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "core/event.h"

namespace ksight::cli {

class TracePrinter final : public core::EventSink {
 public:
  enum class Format { text, json };
  // `columns`: the probe's own fields, in order, for a single-probe trace;
  // empty for several probes. `limit`: stop printing after this many (0: no limit).
  TracePrinter(std::FILE* out, Format format, std::span<const std::string_view> columns,
               uint64_t limit);

  // Formats into a buffer: on_event runs under the registry lock, so it must
  // not block on a slow or stopped reader of the output.
  void on_event(const core::EventView& ev) override;
  // Writes the batch, outside the lock.
  void on_batch_end() override;

  uint64_t printed() const { return printed_.load(); }
  bool limit_reached() const { return limit_ && printed_.load() >= limit_; }
  // The output could not be written (the reader of a pipe went away, the
  // disk is full): the errno, or 0 while all is well. Nothing is printed
  // after a failure.
  int output_error() const { return output_error_.load(); }

 private:
  void header();
  std::FILE* out_;
  Format format_;
  std::span<const std::string_view> columns_;
  uint64_t limit_;
  std::atomic<uint64_t> printed_{0};
  std::atomic<int> output_error_{0};
  std::string pending_;  // formatted, not yet written
  bool header_done_ = false;
  std::string line_;
};

}  // namespace ksight::cli
