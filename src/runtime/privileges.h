#pragma once
// Least privilege for `ksight run`: loading and attaching BPF programs needs
// capabilities (docs/deployment.md, "Capabilities"); reading maps, buffers and
// stats through the file descriptors the agent already holds does not. Once
// every probe is attached, the daemon keeps only what it still uses, in every
// thread and in every set (effective, permitted, inheritable, ambient,
// bounding), and may become an unprivileged user.
#include <sys/types.h>

#include <cstdint>
#include <expected>
#include <string>
#include <vector>

#include "core/registry.h"

namespace ksight::runtime {

// Capabilities as a bit mask: bit n is capability n (CAP_BPF is 39).
using CapMask = uint64_t;

inline constexpr CapMask cap_bit(int cap) {
  return CapMask{1} << cap;
}

struct CapabilitySets {
  CapMask effective = 0, permitted = 0, inheritable = 0, ambient = 0, bounding = 0;
  bool operator==(const CapabilitySets&) const = default;
};

// The sets from a /proc/<pid>/status or /proc/<pid>/task/<tid>/status file
// (CapEff, CapPrm, CapInh, CapAmb, CapBnd).
std::expected<CapabilitySets, std::string> read_capabilities(
    const std::string& status_path = "/proc/self/status");

// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
int last_cap();
// "CAP_BPF"; a number the library has no name for is "CAP_<n>".
std::string cap_name(int cap);
// "CAP_BPF,CAP_PERFMON", or "none".
std::string cap_list(CapMask caps);

// What --keep-capabilities / privileges.keep_capabilities says: `auto` (what
// the daemon uses after attach, see runtime_capabilities()), `all` (drop
// nothing), `none`, or names (CAP_BPF, cap_bpf or bpf), one per item or
// comma-separated.
struct KeepCapabilities {
  enum class Mode { automatic, all, list } mode = Mode::automatic;
  CapMask caps = 0;  // for Mode::list
};
std::expected<KeepCapabilities, std::string> parse_keep_capabilities(
    const std::vector<std::string>& items);

// What `auto` keeps, of what the process holds now:
// - CAP_DAC_READ_SEARCH, for open_by_handle_at(): it names a cgroup from the
//   id BPF reports in one syscall while the cgroup exists (identity, pruning);
//   the walk of /sys/fs/cgroup that replaces it misses cgroups created since
//   the last walk.
// - CAP_BPF (CAP_SYS_ADMIN on kernels without CAP_BPF) when this kernel
//   refuses bpf() on held fds without it: with unprivileged_bpf_disabled set,
//   kernels before 5.19 (commit c8644cd0efe7) refuse every bpf() command, map
//   reads included. Tested, not assumed: `bpf_fd` (a map the agent holds) is
//   queried with the other capabilities out of the effective set.
CapMask runtime_capabilities(int bpf_fd);

struct DropRequest {
  CapMask keep = 0;
  std::string user;  // name or uid; empty: stay who we are
};
struct DropResult {
  CapabilitySets sets;  // of this thread, after
  uid_t uid = 0;
  gid_t gid = 0;
  bool bounding_dropped = true;  // false: no CAP_SETPCAP, the bounding set stays as it was
};
// Whether `user` (a name or a uid) can be switched to: checked before
// anything is loaded, so a typo is a usage error, not a failure after attach.
std::expected<void, std::string> check_user(const std::string& user);

// Drops everything outside `keep` from every set of every thread of the
// process (capabilities are per thread: the HTTP, reader and dispatcher
// threads run already), then switches user if asked (keeping `keep` across
// setuid). Verifies the result in /proc/self/task/*/status.
std::expected<DropResult, std::string> drop_privileges(const DropRequest& req);

// What `ksight run` does once every probe is attached: `keep` as
// parse_keep_capabilities() reads it (auto: runtime_capabilities(bpf_fd)),
// then drop_privileges(), and one log line saying what is left. `also_auto`
// is kept too under auto, when held (CAP_SYS_PTRACE for /debug/pprof, which
// reads other processes' mappings and binaries).
std::expected<void, std::string> drop_after_attach(const std::vector<std::string>& keep,
                                                   const std::string& user, int bpf_fd,
                                                   CapMask also_auto = 0);

// ksight_capabilities{set, capability} = 1 for each capability the process
// holds in the effective, permitted, bounding and ambient sets.
void publish_capabilities(core::Registry& registry);

}  // namespace ksight::runtime
