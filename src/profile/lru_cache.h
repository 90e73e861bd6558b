#pragma once
// A map bounded by entry count and by a weight (bytes), evicting the least
// recently used entries first. Not thread-safe: its owner locks.
#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

namespace ksight::profile {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  // max_weight 0: bounded by count only.
  explicit LruCache(size_t max_entries, size_t max_weight = 0)
      : max_entries_(max_entries == 0 ? 1 : max_entries), max_weight_(max_weight) {}

  // The value of `key`, now the most recently used; nullptr when absent.
  Value* get(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->value;
  }

  // Inserts or replaces; returns how many other entries were evicted to stay
  // within the bounds. The entry just put is never evicted, even when it
  // alone weighs more than max_weight.
  size_t put(const Key& key, Value value, size_t weight = 0) {
    erase(key);
    order_.push_front(Node{key, std::move(value), weight});
    index_.emplace(key, order_.begin());
    weight_ += weight;
    size_t evicted = 0;
    while (order_.size() > 1 &&
           (order_.size() > max_entries_ || (max_weight_ != 0 && weight_ > max_weight_))) {
      erase(order_.back().key);
      ++evicted;
    }
    return evicted;
  }

  bool erase(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    weight_ -= it->second->weight;
    order_.erase(it->second);
    index_.erase(it);
    return true;
  }

  size_t size() const { return order_.size(); }
  size_t weight() const { return weight_; }

 private:
  struct Node {
    Key key;
    Value value;
    size_t weight;
  };
  size_t max_entries_;
  size_t max_weight_;
  size_t weight_ = 0;
  std::list<Node> order_;  // most recently used first
  std::unordered_map<Key, typename std::list<Node>::iterator, Hash> index_;
};

}  // namespace ksight::profile
