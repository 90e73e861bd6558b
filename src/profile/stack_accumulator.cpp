#include "profile/stack_accumulator.h"

#include <cstring>

namespace ksight::profile {

namespace {

template <typename T>
void put(std::string& key, const T& v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  key.append(buf, sizeof(T));
}

// The identity of a stack: everything but its counts. Lengths go in first so
// two different splits of the same addresses cannot collide.
std::string key_of(const RawStack& s) {
  std::string key;
  key.reserve(32 + s.comm.size() + 8 * (s.kernel_ips.size() + s.user_ips.size()));
  put(key, s.pid);
  put(key, s.cgroup_id);
  put(key, static_cast<uint32_t>(s.comm.size()));
  key += s.comm;
  put(key, static_cast<uint32_t>(s.kernel_ips.size()));
  for (uint64_t ip : s.kernel_ips) put(key, ip);
  for (uint64_t ip : s.user_ips) put(key, ip);
  return key;
}

}  // namespace

void StackAccumulator::add(RawStack stack) {
  std::string key = key_of(stack);
  auto it = stacks_.find(key);
  if (it != stacks_.end()) {
    it->second.count += stack.count;
    it->second.value_ns += stack.value_ns;
    return;
  }
  if (stacks_.size() >= max_stacks_) {
    dropped_samples_ += stack.count;
    return;
  }
  stacks_.emplace(std::move(key), std::move(stack));
}

std::vector<RawStack> StackAccumulator::take() {
  std::vector<RawStack> out;
  out.reserve(stacks_.size());
  for (auto& [key, stack] : stacks_) out.push_back(std::move(stack));
  stacks_.clear();
  return out;
}

}  // namespace ksight::profile
