#pragma once
// The pods of this node, by uid and by container id, kept current by a
// KubeWatcher and read by whatever names cgroups. Thread-safe: one writer
// (the watcher), any number of readers.
//
// A deleted pod stays resolvable for `deleted_ttl`, because the events of a
// pod that just died arrive after the API server says it is gone. The store
// is bounded: at most `max_pods` pods, live and deleted together; when it is
// full the oldest deleted pod goes first, and when none is deleted a new pod
// is refused and counted.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "identity/pod_meta.h"

namespace ksight::identity {

struct PodStoreOptions {
  size_t max_pods = 4096;
  std::chrono::steady_clock::duration deleted_ttl = std::chrono::minutes(5);
};

struct PodStoreStats {
  size_t live = 0;
  size_t deleted = 0;    // deleted, still resolvable
  size_t bytes = 0;      // what the pods' strings take (an estimate of the store's memory)
  uint64_t refused = 0;  // new pods not stored: the store was full of live pods
  uint64_t evicted = 0;  // deleted pods dropped before their ttl to make room
  uint64_t expired = 0;  // deleted pods dropped when their ttl passed
  uint64_t generation = 0;
};

class PodStore {
 public:
  using Clock = std::chrono::steady_clock;
  explicit PodStore(PodStoreOptions opts = {});
  PodStore(const PodStore&) = delete;
  PodStore& operator=(const PodStore&) = delete;

  std::optional<PodMeta> by_uid(std::string_view uid) const;
  // A container and its pod by container id: the runtime's full id, with or
  // without its "containerd://" prefix.
  std::optional<std::pair<PodMeta, ContainerMeta>> by_container_id(std::string_view id) const;
  // Bumps on every change, so a cache of resolved identities knows to look again.
  uint64_t generation() const;
  size_t size() const;  // live + deleted
  size_t capacity() const { return opts_.max_pods; }
  PodStoreStats stats() const;

  // Adds or updates a live pod (an ADDED or MODIFIED event); a pod deleted
  // earlier comes back to life. False when refused because the store is full.
  bool upsert(PodMeta pod, Clock::time_point now = Clock::now());
  // Marks a pod deleted (a DELETED event); it is dropped deleted_ttl after `now`.
  void remove(std::string_view uid, Clock::time_point now);
  // Makes the store what a fresh LIST returned: listed pods are upserted,
  // pods no longer listed are marked deleted (they died while nobody watched).
  void replace_all(std::vector<PodMeta> pods, Clock::time_point now);
  // Drops deleted pods whose ttl has passed.
  void expire(Clock::time_point now);

 private:
  struct Entry {
    PodMeta pod;
    Clock::time_point deleted_at{};
  };
  using PodMap = std::map<std::string, Entry, std::less<>>;

  bool upsert_locked(PodMeta&& pod);
  void remove_locked(std::string_view uid, Clock::time_point now);
  void expire_locked(Clock::time_point now);
  // Drops the oldest deleted pod; false when there is none.
  bool evict_oldest_deleted_locked();
  void erase_locked(PodMap::iterator it);
  void index_locked(const PodMeta& pod);
  void unindex_locked(const PodMeta& pod);
  void changed_locked() { generation_.fetch_add(1, std::memory_order_release); }

  PodStoreOptions opts_;
  mutable std::shared_mutex mu_;
  PodMap pods_;                                                 // by uid
  std::map<std::string, std::string, std::less<>> containers_;  // container id -> pod uid
  // Deleted pods in the order they were deleted, for expiry and eviction. An
  // entry whose pod came back or was deleted again later is stale: skipped.
  std::deque<std::pair<Clock::time_point, std::string>> deleted_order_;
  size_t deleted_count_ = 0;
  size_t bytes_ = 0;
  std::atomic<uint64_t> generation_{0};  // read without the lock
  uint64_t refused_ = 0, evicted_ = 0, expired_ = 0;
};

// What a pod's strings take, for PodStoreStats::bytes.
size_t pod_bytes(const PodMeta& pod);

}  // namespace ksight::identity
