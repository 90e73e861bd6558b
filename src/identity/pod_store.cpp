#include "identity/pod_store.h"

#include <mutex>
#include <set>

namespace ksight::identity {

size_t pod_bytes(const PodMeta& pod) {
  size_t n = sizeof(PodMeta) + pod.uid.size() + pod.name.size() + pod.ns.size() + pod.node.size() +
             pod.workload.size() + pod.workload_kind.size();
  for (const auto& c : pod.containers) n += sizeof(ContainerMeta) + c.id.size() + c.name.size();
  return n;
}

PodStore::PodStore(PodStoreOptions opts) : opts_(opts) {}

std::optional<PodMeta> PodStore::by_uid(std::string_view uid) const {
  std::shared_lock lock(mu_);
  auto it = pods_.find(uid);
  if (it == pods_.end()) return std::nullopt;
  return it->second.pod;
}

std::optional<std::pair<PodMeta, ContainerMeta>> PodStore::by_container_id(
    std::string_view id) const {
  id = strip_runtime_prefix(id);
  std::shared_lock lock(mu_);
  auto c = containers_.find(id);
  if (c == containers_.end()) return std::nullopt;
  auto it = pods_.find(c->second);
  if (it == pods_.end()) return std::nullopt;
  for (const auto& container : it->second.pod.containers)
    if (container.id == id) return std::pair{it->second.pod, container};
  return std::nullopt;
}

uint64_t PodStore::generation() const {
  return generation_.load(std::memory_order_acquire);
}

size_t PodStore::size() const {
  std::shared_lock lock(mu_);
  return pods_.size();
}

PodStoreStats PodStore::stats() const {
  std::shared_lock lock(mu_);
  return {pods_.size() - deleted_count_,
          deleted_count_,
          bytes_,
          refused_,
          evicted_,
          expired_,
          generation()};
}

bool PodStore::upsert(PodMeta pod, Clock::time_point now) {
  std::unique_lock lock(mu_);
  expire_locked(now);
  return upsert_locked(std::move(pod));
}

void PodStore::remove(std::string_view uid, Clock::time_point now) {
  std::unique_lock lock(mu_);
  expire_locked(now);
  remove_locked(uid, now);
}

void PodStore::replace_all(std::vector<PodMeta> pods, Clock::time_point now) {
  std::unique_lock lock(mu_);
  expire_locked(now);
  std::set<std::string, std::less<>> listed;
  for (const auto& p : pods) listed.insert(p.uid);
  // Deletions first: they free room for the listed pods.
  std::vector<std::string> gone;
  for (const auto& [uid, entry] : pods_)
    if (!entry.pod.deleted && !listed.contains(uid)) gone.push_back(uid);
  for (const auto& uid : gone) remove_locked(uid, now);
  for (auto& p : pods) upsert_locked(std::move(p));
}

void PodStore::expire(Clock::time_point now) {
  std::unique_lock lock(mu_);
  expire_locked(now);
}

bool PodStore::upsert_locked(PodMeta&& pod) {
  pod.deleted = false;
  auto it = pods_.find(pod.uid);
  if (it != pods_.end()) {
    Entry& e = it->second;
    if (e.pod == pod) return true;
    if (e.pod.deleted) --deleted_count_;  // back to life: its deleted_order_ entry is now stale
    unindex_locked(e.pod);
    bytes_ -= pod_bytes(e.pod);
    e.pod = std::move(pod);
    e.deleted_at = {};
    bytes_ += pod_bytes(e.pod);
    index_locked(e.pod);
    changed_locked();
    return true;
  }
  if (pods_.size() >= opts_.max_pods && !evict_oldest_deleted_locked()) {
    ++refused_;
    return false;
  }
  bytes_ += pod_bytes(pod);
  std::string uid = pod.uid;  // the key, before the pod moves into its entry
  auto [pos, inserted] = pods_.emplace(std::move(uid), Entry{std::move(pod), {}});
  index_locked(pos->second.pod);
  changed_locked();
  return inserted;
}

void PodStore::remove_locked(std::string_view uid, Clock::time_point now) {
  auto it = pods_.find(uid);
  if (it == pods_.end() || it->second.pod.deleted) return;
  it->second.pod.deleted = true;
  it->second.deleted_at = now;
  ++deleted_count_;
  deleted_order_.emplace_back(now, it->first);
  changed_locked();
}

void PodStore::expire_locked(Clock::time_point now) {
  while (!deleted_order_.empty()) {
    auto& [at, uid] = deleted_order_.front();
    auto it = pods_.find(uid);
    bool current = it != pods_.end() && it->second.pod.deleted && it->second.deleted_at == at;
    if (current && now - at < opts_.deleted_ttl) break;
    if (current) {
      erase_locked(it);
      ++expired_;
    }
    deleted_order_.pop_front();
  }
}

bool PodStore::evict_oldest_deleted_locked() {
  while (!deleted_order_.empty()) {
    auto [at, uid] = std::move(deleted_order_.front());
    deleted_order_.pop_front();
    auto it = pods_.find(uid);
    if (it != pods_.end() && it->second.pod.deleted && it->second.deleted_at == at) {
      erase_locked(it);
      ++evicted_;
      return true;
    }
  }
  return false;
}

void PodStore::erase_locked(PodMap::iterator it) {
  if (it->second.pod.deleted) --deleted_count_;
  unindex_locked(it->second.pod);
  bytes_ -= pod_bytes(it->second.pod);
  pods_.erase(it);
  changed_locked();
}

void PodStore::index_locked(const PodMeta& pod) {
  for (const auto& c : pod.containers) containers_.insert_or_assign(c.id, pod.uid);
}

void PodStore::unindex_locked(const PodMeta& pod) {
  for (const auto& c : pod.containers) {
    auto it = containers_.find(c.id);
    // Another pod may claim the same id later; its claim stays.
    if (it != containers_.end() && it->second == pod.uid) containers_.erase(it);
  }
}

}  // namespace ksight::identity
