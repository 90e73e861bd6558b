#pragma once
// Adds up the stacks drained from the kernel over a profile's duration: a
// stack seen in several drains is one entry with the sum of its counts. The
// number of distinct stacks is bounded; what does not fit is counted, never
// silently lost.
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "profile/stack_profile.h"

namespace ksight::profile {

class StackAccumulator {
 public:
  explicit StackAccumulator(size_t max_stacks = 200'000) : max_stacks_(max_stacks) {}

  void add(RawStack stack);
  void add(std::vector<RawStack> stacks) {
    for (auto& s : stacks) add(std::move(s));
  }
  // The stacks so far, in no particular order; empties the accumulator.
  std::vector<RawStack> take();
  size_t size() const { return stacks_.size(); }
  // Samples (counts) of stacks that arrived when max_stacks were held already.
  uint64_t dropped_samples() const { return dropped_samples_; }

 private:
  size_t max_stacks_;
  std::unordered_map<std::string, RawStack> stacks_;  // key: pid, cgroup, comm and the ips
  uint64_t dropped_samples_ = 0;
};

}  // namespace ksight::profile
