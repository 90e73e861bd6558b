#include "core/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include "core/text.h"

namespace ksight::core {

Registry::Registry(Options opts) : opts_(opts) {
  overflow_family_ = add({.name = "ksight_series_overflow_total",
                          .help = "Updates folded into a metric's overflow series because the "
                                  "metric reached its series cap.",
                          .kind = MetricKind::counter,
                          .label_names = {"metric"},
                          .expires = false});
}

FamilyId Registry::add(MetricDesc desc) {
  std::lock_guard lock(mu_);
  for (FamilyId i = 0; i < families_.size(); ++i) {
    if (families_[i].desc->name == desc.name) return i;
  }
  if (desc.kind == MetricKind::histogram &&
      !std::is_sorted(desc.bounds.begin(), desc.bounds.end())) {
    throw std::invalid_argument("histogram bounds must ascend: " + desc.name);
  }
  Family fam;
  fam.written_labels = desc.label_names.size();
  if (opts_.expander) {
    auto& names = desc.label_names;
    auto at = std::find(names.begin(), names.end(), opts_.expander->source_label());
    if (at != names.end()) {
      fam.expand_at = static_cast<int>(at - names.begin());
      auto expanded = opts_.expander->expanded_names();
      at = names.erase(at);
      names.insert(at, expanded.begin(), expanded.end());
    }
  }
  fam.max_series = desc.max_series ? desc.max_series : opts_.default_max_series;
  fam.desc = std::make_shared<const MetricDesc>(std::move(desc));
  families_.push_back(std::move(fam));
  return families_.size() - 1;
}

Registry::Writer Registry::write(uint64_t now_mono_ns) {
  return Writer(*this, now_mono_ns);
}

size_t Registry::add_refresher(std::function<void(Writer&)> fn) {
  std::lock_guard lock(mu_);
  refreshers_.emplace(next_refresher_, std::move(fn));
  return next_refresher_++;
}

void Registry::remove_refresher(size_t token) {
  std::lock_guard lock(mu_);
  refreshers_.erase(token);
}

Registry::Series& Registry::series_for(Family& fam, std::span<const std::string_view> labels,
                                       uint64_t now, std::string* overflowed_key) {
  const auto& names = fam.desc->label_names;
  if (labels.size() != names.size()) {
    throw std::invalid_argument("metric " + fam.desc->name + " takes " +
                                std::to_string(names.size()) + " labels, got " +
                                std::to_string(labels.size()));
  }
  // Label values are text for every exporter: bytes that are not UTF-8 (a
  // comm named with them, or a multibyte character cut by the kernel's 15
  // bytes) become U+FFFD here, once, so no exposition or OTLP document can
  // be rejected or make a JSON encoder throw.
  std::vector<std::string> sanitized;
  std::vector<std::string_view> sanitized_views;
  for (auto v : labels) {
    if (is_valid_utf8(v)) continue;
    for (auto l : labels) sanitized.push_back(sanitize_utf8(l));
    sanitized_views.assign(sanitized.begin(), sanitized.end());
    labels = sanitized_views;
    break;
  }
  // Key: label values joined by a byte that cannot appear in UTF-8 text.
  key_scratch_.clear();
  for (auto v : labels) {
    key_scratch_.append(v);
    key_scratch_.push_back('\xff');
  }
  auto it = fam.series.find(std::string_view(key_scratch_));
  if (it == fam.series.end()) {
    std::vector<std::string_view> overflow_labels;
    if (fam.series.size() >= fam.max_series) {
      ++fam.overflowed;
      if (overflowed_key) *overflowed_key = key_scratch_;
      key_scratch_.clear();
      for (size_t i = 0; i < names.size(); ++i) {
        key_scratch_.append(kOverflowLabel);
        key_scratch_.push_back('\xff');
      }
      overflow_labels.assign(names.size(), kOverflowLabel);
      labels = overflow_labels;
      it = fam.series.find(std::string_view(key_scratch_));
    }
    if (it == fam.series.end()) {
      Series s;
      s.labels.assign(labels.begin(), labels.end());
      if (fam.desc->kind == MetricKind::histogram) s.buckets.assign(fam.desc->bounds.size() + 1, 0);
      s.start_mono_ns = now;
      it = fam.series.emplace(key_scratch_, std::move(s)).first;
    }
  }
  it->second.updated_mono_ns = now;
  return it->second;
}

std::span<const std::string_view> Registry::expanded(const Family& fam,
                                                     std::span<const std::string_view> labels) {
  if (labels.size() != fam.written_labels) {
    throw std::invalid_argument("metric " + fam.desc->name + " takes " +
                                std::to_string(fam.written_labels) + " labels, got " +
                                std::to_string(labels.size()));
  }
  if (fam.expand_at < 0) return labels;
  const auto at = static_cast<size_t>(fam.expand_at);
  opts_.expander->expand(labels[at], expanded_values_);
  expanded_views_.clear();
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i == at) {
      expanded_views_.insert(expanded_views_.end(), expanded_values_.begin(),
                             expanded_values_.end());
    } else {
      expanded_views_.push_back(labels[i]);
    }
  }
  return expanded_views_;
}

Registry::Contribution* Registry::contribution_for(Family& fam,
                                                   std::span<const std::string_view> labels,
                                                   uint64_t now, Series*& s) {
  std::string& key = overflowed_key_;
  key.clear();
  s = &series_for(fam, expanded(fam, labels), now, &key);
  if (fam.expand_at >= 0) {
    // Each source value (cgroup) adds to its series what it grew by, so
    // cgroups sharing a series sum up, and one that stops being set (pruned)
    // keeps its share.
    key.clear();
    for (auto v : labels) {
      key.append(v);
      key.push_back('\xff');
    }
  } else if (key.empty()) {
    return nullptr;  // its own series: the value is absolute
  }
  Contribution& c = contribution(fam, key, now);
  // key_scratch_ still holds the key of the series series_for() returned.
  if (c.target != key_scratch_) {
    // New, or its labels moved (a pod's metadata arrived): all of it is new
    // to this series; the old one keeps what it had.
    c.target = key_scratch_;
    c.last = 0;
    c.buckets.clear();
  }
  return &c;
}

void Registry::Writer::add(FamilyId id, std::span<const std::string_view> labels, double delta) {
  Family& fam = reg_->families_.at(id);
  reg_->series_for(fam, reg_->expanded(fam, labels), now_).value += delta;
}

void Registry::Writer::set(FamilyId id, std::span<const std::string_view> labels, double value) {
  Family& fam = reg_->families_.at(id);
  if (fam.desc->kind != MetricKind::counter) {
    // A gauge: the last value wins.
    reg_->series_for(fam, reg_->expanded(fam, labels), now_).value = value;
    return;
  }
  Series* s = nullptr;
  Contribution* c = reg_->contribution_for(fam, labels, now_, s);
  if (!c) {
    s->value = value;
    return;
  }
  // Below the last value: the key's counter started over (a map entry
  // deleted and created again), so all of it is new.
  s->value += value >= c->last ? value - c->last : value;
  c->last = value;
}

Registry::Contribution& Registry::contribution(Family& fam, const std::string& key, uint64_t now) {
  auto it = fam.contributions.find(std::string_view(key));
  if (it == fam.contributions.end()) {
    if (fam.contributions.size() >= kMaxContributions) fam.contributions.clear();
    it = fam.contributions.emplace(key, Contribution{}).first;
  }
  it->second.updated_mono_ns = now;
  return it->second;
}

void Registry::Writer::observe(FamilyId id, std::span<const std::string_view> labels,
                               double sample) {
  Family& fam = reg_->families_.at(id);
  Series& s = reg_->series_for(fam, reg_->expanded(fam, labels), now_);
  const auto& bounds = fam.desc->bounds;
  // Prometheus buckets are inclusive upper bounds (le).
  size_t i = std::lower_bound(bounds.begin(), bounds.end(), sample) - bounds.begin();
  ++s.buckets[i];
  ++s.count;
  s.sum += sample;
}

void Registry::Writer::set_histogram(FamilyId id, std::span<const std::string_view> labels,
                                     std::span<const uint64_t> buckets, double sum) {
  Family& fam = reg_->families_.at(id);
  if (buckets.size() != fam.desc->bounds.size() + 1) {
    throw std::invalid_argument("histogram " + fam.desc->name + ": wrong bucket count");
  }
  Series* s = nullptr;
  Contribution* c = reg_->contribution_for(fam, labels, now_, s);
  if (!c) {
    s->buckets.assign(buckets.begin(), buckets.end());
    s->count = 0;
    for (auto b : buckets) s->count += b;
    s->sum = sum;
    return;
  }
  // A shared series: add this key's increase, as for counters. A bucket
  // below its last value means the key's histogram started over.
  c->buckets.resize(buckets.size(), 0);
  bool reset = sum < c->last;
  for (size_t i = 0; i < buckets.size(); ++i) reset = reset || buckets[i] < c->buckets[i];
  for (size_t i = 0; i < buckets.size(); ++i) {
    const uint64_t delta = reset ? buckets[i] : buckets[i] - c->buckets[i];
    s->buckets[i] += delta;
    s->count += delta;
  }
  s->sum += reset ? sum : sum - c->last;
  c->buckets.assign(buckets.begin(), buckets.end());
  c->last = sum;
}

void Registry::expire_locked(uint64_t now) {
  if (opts_.series_ttl_ns == 0) return;
  for (auto& fam : families_) {
    if (!fam.desc->expires) continue;
    auto stale = [&](const auto& kv) {
      return now > kv.second.updated_mono_ns &&
             now - kv.second.updated_mono_ns > opts_.series_ttl_ns;
    };
    std::erase_if(fam.series, stale);
    std::erase_if(fam.contributions, stale);
  }
}

size_t Registry::expire(uint64_t now_mono_ns) {
  std::lock_guard lock(mu_);
  size_t before = 0, after = 0;
  for (auto& fam : families_) before += fam.series.size();
  expire_locked(now_mono_ns);
  for (auto& fam : families_) after += fam.series.size();
  return before - after;
}

std::vector<FamilySnapshot> Registry::collect(uint64_t now_mono_ns) {
  {
    Writer w(*this, now_mono_ns);
    for (auto& [token, fn] : refreshers_) fn(w);
    for (auto& fam : families_) {
      if (fam.overflowed && &fam != &families_[overflow_family_]) {
        std::string_view name = fam.desc->name;
        w.set(overflow_family_, {name}, static_cast<double>(fam.overflowed));
      }
    }
    expire_locked(now_mono_ns);
  }
  std::lock_guard lock(mu_);
  std::vector<FamilySnapshot> out;
  out.reserve(families_.size());
  for (const auto& fam : families_) {
    // Stable output order: exporters and tests diff it. Pointers are sorted
    // and the series copied once, in order: cheaper than moving snapshots
    // around while sorting (100k series: a third of a scrape).
    order_scratch_.clear();
    order_scratch_.reserve(fam.series.size());
    for (const auto& [key, s] : fam.series) order_scratch_.push_back(&s);
    std::sort(order_scratch_.begin(), order_scratch_.end(),
              [](const Series* a, const Series* b) { return a->labels < b->labels; });
    FamilySnapshot fs{fam.desc, {}};
    fs.series.reserve(order_scratch_.size());
    for (const Series* s : order_scratch_)
      fs.series.push_back({s->labels, s->value, s->buckets, s->count, s->sum, s->start_mono_ns});
    out.push_back(std::move(fs));
  }
  return out;
}

void Registry::set_limits(size_t default_max_series, uint64_t series_ttl_ns) {
  std::lock_guard lock(mu_);
  opts_.default_max_series = default_max_series;
  opts_.series_ttl_ns = series_ttl_ns;
  for (auto& fam : families_)
    if (!fam.desc->max_series) fam.max_series = default_max_series;
}

void Registry::Writer::remove_series(FamilyId id, std::string_view value) {
  auto& fam = reg_->families_[id];
  std::erase_if(fam.series, [&](const auto& kv) {
    return !kv.second.labels.empty() && kv.second.labels.front() == value;
  });
}

size_t Registry::series_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& fam : families_) n += fam.series.size();
  return n;
}

CgroupKey::CgroupKey(uint64_t id) {
  len_ = static_cast<size_t>(std::to_chars(buf_, buf_ + sizeof(buf_), id).ptr - buf_);
}

uint64_t log2_slot_upper(size_t slot) {
  return slot < 2 ? slot : uint64_t{1} << (slot - 1);
}

std::vector<double> log2_bounds(size_t slots, double unit) {
  std::vector<double> out;
  for (size_t s = 0; s + 1 < slots; ++s)
    out.push_back(static_cast<double>(log2_slot_upper(s)) * unit);
  return out;
}

}  // namespace ksight::core
