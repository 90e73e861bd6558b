#pragma once
// A decoded event as the sinks (JSON lines, OTLP logs, the trace printer) see
// it: a fixed header plus up to kMaxFields typed fields. Strings are views
// into the record or into the probe's scratch buffer, so decoding an event
// allocates nothing; a sink that keeps an event copies what it needs.
#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string_view>
#include <utility>

namespace ksight::core {

struct Field {
  enum class Type : uint8_t { i64, u64, f64, str };
  std::string_view key;
  Type type = Type::i64;
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  std::string_view s;
};

struct EventView {
  static constexpr size_t kMaxFields = 16;

  std::string_view probe;
  uint64_t time_unix_ns = 0;
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t cgroup_id = 0;
  std::string_view comm;
  // Kept with probability 1/sample_period by adaptive sampling: the event
  // stands for sample_period events (1: not sampled).
  uint32_t sample_period = 1;
  // Who the cgroup belongs to, as (label, value) pairs with a value
  // (namespace, pod, container, unit...): filled by the dispatcher from the
  // identity resolver, empty without one.
  std::span<const std::pair<std::string_view, std::string_view>> identity;
  std::array<Field, kMaxFields> fields{};
  size_t field_count = 0;
  // A record for the agent itself, not an event: a stack probe's notice of a
  // new process. Decoded, counted as received, not handed to any sink.
  bool internal = false;

  void clear() { field_count = 0; }
  void add_i64(std::string_view k, int64_t v) { push({k, Field::Type::i64, v, 0, 0, {}}); }
  void add_u64(std::string_view k, uint64_t v) { push({k, Field::Type::u64, 0, v, 0, {}}); }
  void add_f64(std::string_view k, double v) { push({k, Field::Type::f64, 0, 0, v, {}}); }
  void add_str(std::string_view k, std::string_view v) { push({k, Field::Type::str, 0, 0, 0, v}); }
  const Field* find(std::string_view k) const {
    for (size_t i = 0; i < field_count; ++i)
      if (fields[i].key == k) return &fields[i];
    return nullptr;
  }

 private:
  void push(const Field& f) {
    if (field_count < kMaxFields) fields[field_count++] = f;
  }
};

// What became of the events a sink was given, for the loss ledger
// (docs/fidelity.md): delivered (written, or accepted by the collector),
// dropped (a bounded buffer or queue was full), failed (a write failed, the
// collector refused, retries ran out), pending (held by the sink now: in a
// buffer, a queue, a retry).
struct SinkOutcomes {
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t failed = 0;
  uint64_t pending = 0;
};
// By probe name (EventView::probe: the probe table's names, which live as
// long as the program).
using SinkLedger = std::map<std::string_view, SinkOutcomes>;
// Events by probe name, e.g. those in one buffered document.
using ProbeCounts = std::map<std::string_view, uint64_t>;
enum class SinkOutcome : uint8_t { delivered, dropped, failed };
// Adds `counts` to `ledger` under `outcome`.
inline void settle(SinkLedger& ledger, const ProbeCounts& counts, SinkOutcome outcome) {
  for (const auto& [probe, n] : counts) {
    SinkOutcomes& o = ledger[probe];
    (outcome == SinkOutcome::delivered ? o.delivered
     : outcome == SinkOutcome::dropped ? o.dropped
                                       : o.failed) += n;
  }
}

// Where decoded events go. Called on the dispatcher thread, one event at a
// time, inside a batch; implementations must not block for long.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const EventView& ev) = 0;
  // End of a batch: a chance to flush buffered output.
  virtual void on_batch_end() {}
  // The sink's name in the loss ledger (events_file, otlp_logs); empty for a
  // sink that keeps no ledger (the trace printer, top).
  virtual std::string_view ledger_name() const { return {}; }
  // Its outcomes so far. Asked by the agent's refresher, under the
  // registry's lock, which on_event() also runs under.
  virtual SinkLedger ledger() const { return {}; }
};

}  // namespace ksight::core
