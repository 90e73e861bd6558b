#pragma once
// The aggregation core: counters, gauges and histograms keyed by label sets.
// Every exporter reads it through snapshots; nothing here knows about BPF.
//
// Bounded by design: each metric has a series cap, past which new label sets
// are folded into one overflow series (every label "__overflow__") and
// counted; series that were not updated for the configured time-to-live are
// dropped, so a node that ran ten thousand short-lived commands does not keep
// ten thousand series forever.
//
// Counters stay monotonic through the overflow series: set() of an absolute
// value (what every kernel-aggregated counter does) adds the key's increase
// since its last set() to the overflow series instead of overwriting it (and
// set_histogram() its increase per bucket), and
// a key that stops being set (its kernel map entry went away) keeps its last
// contribution. A series that stops being set keeps its last value until it
// expires.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ksight::core {

enum class MetricKind { counter, gauge, histogram };

struct MetricDesc {
  std::string name;  // full exposition name, e.g. ksight_process_execs_total
  std::string help;
  MetricKind kind = MetricKind::counter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;  // histogram upper bounds, ascending; +Inf implied
  size_t max_series = 0;       // 0: the registry's default
  bool expires = true;         // false for series that must always be shown
  // Set for histograms whose buckets are the kernel's log2 slots
  // (include/ksight/abi/hist.h; bounds = log2_bounds(slots, log2_unit)): one
  // kernel unit in the metric's unit (1e-6: microseconds exported as
  // seconds) and its UCUM name ("us"). OTLP can then write them as
  // exponential histograms at scale 0, bucket for slot; 0: explicit only.
  double log2_unit = 0;
  std::string log2_ucum;
};

inline constexpr std::string_view kOverflowLabel = "__overflow__";

// Turns the one label probes write for a cgroup into the labels configured
// in its place (identity::Resolver: namespace, pod, container...). A metric
// whose label names hold source_label() gets expanded_names() there instead;
// every write through it passes the value through expand(). Several source
// values may land on one series (two cgroups of one pod): counters and
// histograms set from kernel maps then add up per source value, so the
// series stays the sum of its cgroups and never goes backwards.
class LabelExpander {
 public:
  virtual ~LabelExpander() = default;
  virtual std::string_view source_label() const = 0;
  virtual std::span<const std::string> expanded_names() const = 0;
  // Replaces `out` with expanded_names().size() values for `value`.
  virtual void expand(std::string_view value, std::vector<std::string>& out) = 0;
};

// The label a probe writes for a cgroup, and its value: the one way probes
// name a cgroup, so the expander (or nothing) decides what it becomes.
inline constexpr std::string_view kCgroupLabel = "cgroup_id";
// Formats into a buffer of the caller's: no allocation per map entry.
struct CgroupKey {
  explicit CgroupKey(uint64_t id);
  operator std::string_view() const { return {buf_, len_}; }
  char buf_[24];
  size_t len_ = 0;
};

struct SeriesSnapshot {
  std::vector<std::string> labels;  // in MetricDesc::label_names order
  double value = 0;                 // counter or gauge
  std::vector<uint64_t> buckets;    // histogram: per bucket, not cumulative; bounds+1
  uint64_t count = 0;
  double sum = 0;
  uint64_t start_mono_ns = 0;  // when the series appeared (OTLP start time)
};

struct FamilySnapshot {
  std::shared_ptr<const MetricDesc> desc;
  std::vector<SeriesSnapshot> series;
};

using FamilyId = size_t;

class Registry {
 public:
  struct Options {
    size_t default_max_series = 2000;
    uint64_t series_ttl_ns = 10ull * 60 * 1'000'000'000;  // 10m; 0 keeps series forever
    LabelExpander* expander = nullptr;  // outlives the registry; null: labels as written
  };

  explicit Registry(Options opts);
  Registry() : Registry(Options{}) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a metric; call at start-up. Registering the same name twice
  // returns the first id (the descriptions must agree).
  FamilyId add(MetricDesc desc);

  class Writer;
  // Locks the registry for a batch of updates stamped `now_mono_ns`. One lock
  // per batch of events, not per event.
  Writer write(uint64_t now_mono_ns);

  // Functions run (under the lock) before every snapshot, to pull values that
  // live elsewhere: BPF maps, /proc. They receive a Writer. The returned token
  // removes the function again, before whatever it reads goes away.
  size_t add_refresher(std::function<void(Writer&)> fn);
  void remove_refresher(size_t token);

  // Runs the refreshers, expires stale series, and copies everything out.
  std::vector<FamilySnapshot> collect(uint64_t now_mono_ns);

  // Drops series not updated within the TTL; returns how many went.
  size_t expire(uint64_t now_mono_ns);

  size_t series_count() const;

  // A configuration reload (metrics.max_series_per_metric, .series_ttl):
  // metrics registered without a cap of their own take the new default; a
  // lower cap folds only new label sets into the overflow series.
  void set_limits(size_t default_max_series, uint64_t series_ttl_ns);

 private:
  struct Series {
    std::vector<std::string> labels;
    double value = 0;
    std::vector<uint64_t> buckets;
    uint64_t count = 0;
    double sum = 0;
    uint64_t start_mono_ns = 0;
    uint64_t updated_mono_ns = 0;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // What an overflowed key last set() into a counter's overflow series.
  // (Histograms: the last buckets and sum set_histogram() gave.)
  struct Contribution {
    double last = 0;
    std::vector<uint64_t> buckets;
    uint64_t updated_mono_ns = 0;
    std::string target;  // the series key it adds to (expanded labels can move)
  };
  struct Family {
    std::shared_ptr<const MetricDesc> desc;
    size_t max_series = 0;
    std::unordered_map<std::string, Series, StringHash, std::equal_to<>> series;
    uint64_t overflowed = 0;  // updates folded into the overflow series
    // Where the expander's source label sits in what writers pass; -1: none.
    int expand_at = -1;
    size_t written_labels = 0;  // how many labels writers pass
    // Counters: overflowed keys' last set() values, expiring like series;
    // bounded (kMaxContributions), past which it starts over: the overflow
    // series may then over-count, but it never goes backwards.
    std::unordered_map<std::string, Contribution, StringHash, std::equal_to<>> contributions;
  };
  static constexpr size_t kMaxContributions = 1u << 16;
  // The overflowed key's record, created (within the bound) when new.
  Contribution& contribution(Family& fam, const std::string& key, uint64_t now);

  // The series for `labels`, or the overflow series when the metric is at
  // its cap; then `*overflowed_key`, when given, receives the labels' key.
  Series& series_for(Family& fam, std::span<const std::string_view> labels, uint64_t now,
                     std::string* overflowed_key = nullptr);
  // The labels as written, expanded when the family has an expanded label
  // (views into expanded_*_, valid until the next call).
  std::span<const std::string_view> expanded(const Family& fam,
                                             std::span<const std::string_view> labels);
  // For set() and set_histogram(): the contribution through which `labels`
  // adds to `s`, or null when `s` is the labels' own series.
  Contribution* contribution_for(Family& fam, std::span<const std::string_view> labels,
                                 uint64_t now, Series*& s);
  void expire_locked(uint64_t now);

  Options opts_;
  mutable std::mutex mu_;
  std::vector<Family> families_;
  std::map<size_t, std::function<void(Writer&)>> refreshers_;
  size_t next_refresher_ = 0;
  FamilyId overflow_family_ = 0;
  std::string key_scratch_;  // reused to build lookup keys without allocating
  std::string overflowed_key_;
  std::vector<std::string> expanded_values_;
  std::vector<std::string_view> expanded_views_;
  std::vector<const Series*> order_scratch_;  // collect()'s sort, reused
  friend class Writer;
};

class Registry::Writer {
 public:
  Writer(Writer&&) = default;
  void add(FamilyId id, std::initializer_list<std::string_view> labels, double delta = 1) {
    add(id, std::span<const std::string_view>(labels.begin(), labels.size()), delta);
  }
  void add(FamilyId id, std::span<const std::string_view> labels, double delta);
  // Sets a counter or gauge to an absolute value (e.g. a cumulative count read
  // from a BPF map).
  void set(FamilyId id, std::initializer_list<std::string_view> labels, double value) {
    set(id, std::span<const std::string_view>(labels.begin(), labels.size()), value);
  }
  void set(FamilyId id, std::span<const std::string_view> labels, double value);
  void observe(FamilyId id, std::initializer_list<std::string_view> labels, double sample) {
    observe(id, std::span<const std::string_view>(labels.begin(), labels.size()), sample);
  }
  void observe(FamilyId id, std::span<const std::string_view> labels, double sample);
  // Replaces a histogram with absolute per-bucket counts (bounds+1 of them),
  // for histograms aggregated in the kernel.
  void set_histogram(FamilyId id, std::span<const std::string_view> labels,
                     std::span<const uint64_t> buckets, double sum);
  // Drops every series whose first label is `value` at once, expiring or not
  // (a probe detached by a configuration reload).
  void remove_series(FamilyId id, std::string_view value);
  uint64_t now() const { return now_; }

 private:
  friend class Registry;
  Writer(Registry& r, uint64_t now) : reg_(&r), lock_(r.mu_), now_(now) {}
  Registry* reg_;
  std::unique_lock<std::mutex> lock_;
  uint64_t now_;
};

// The upper bounds of a log2 histogram of `slots` kernel slots
// (include/ksight/abi/hist.h), scaled by `unit` (e.g. 1e-6 for microseconds
// -> seconds): 0, 1, 2, 4, ..., 2^(slots-3), each inclusive, as Prometheus'
// `le`; the last slot is the +Inf bucket. slots - 1 bounds.
std::vector<double> log2_bounds(size_t slots, double unit);
// The largest value slot `slot` holds (slot < slots - 1): 0, 1, 2, 4, ...
uint64_t log2_slot_upper(size_t slot);

}  // namespace ksight::core
