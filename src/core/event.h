#pragma once
// A decoded event as the sinks (JSON lines, OTLP logs, the trace printer) see
// it: a fixed header plus up to kMaxFields typed fields. Strings are views
// into the record or into the probe's scratch buffer, so decoding an event
// allocates nothing; a sink that keeps an event copies what it needs.
#include <array>
#include <cstdint>
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

// Where decoded events go. Called on the dispatcher thread, one event at a
// time, inside a batch; implementations must not block for long.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const EventView& ev) = 0;
  // End of a batch: a chance to flush buffered output.
  virtual void on_batch_end() {}
};

}  // namespace ksight::core
