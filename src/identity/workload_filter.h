#pragma once
// "Only this workload": `ksight trace --namespace NS --pod NS/NAME
// --container NAME --unit NAME`. A selector matches identities; the cgroups
// it matches go into the agent's in-kernel cgroup set, rescanned while the
// trace runs so containers that start later are followed too.
#include <cstdint>
#include <expected>
#include <set>
#include <string>

#include "identity/resolver.h"

namespace ksight::identity {

struct WorkloadSelector {
  std::string ns;         // the pod's namespace
  std::string pod_ns;     // --pod NS/NAME: its namespace
  std::string pod;        // the pod's name, or its UID
  std::string container;  // the container's name, or a prefix (12+) of its id
  std::string unit;       // a systemd unit or slice anywhere in the cgroup path

  // From the flags' values (empty: not given). --pod takes NS/NAME or a name or UID.
  static std::expected<WorkloadSelector, std::string> from_flags(const std::string& ns,
                                                                 const std::string& pod,
                                                                 const std::string& container,
                                                                 const std::string& unit);
  bool empty() const { return ns.empty() && pod.empty() && container.empty() && unit.empty(); }
  bool matches(const Identity& id) const;
  // For messages: "--pod payments/api-1 --container server".
  std::string describe() const;
};

// The live cgroups the selector matches: one walk of the cgroup tree, each
// cgroup resolved (and cached) by `resolver`. At most `limit` ids.
std::set<uint64_t> matching_cgroups(const WorkloadSelector& sel, Resolver& resolver, size_t limit);

}  // namespace ksight::identity
