// Dropping capabilities in every thread. Capabilities, the bounding and
// ambient sets and PR_SET_KEEPCAPS belong to a thread, not to the process:
// capset() changes only the caller, and threads started before the drop (HTTP
// workers, the reader, the dispatcher, the Kubernetes watch) would keep
// everything. Like glibc's setxid broadcast (and libcap's libpsx, which only
// sees threads created through its wrapped pthread_create, not std::thread's),
// each thread is sent a signal whose handler applies the same change; the
// result is then checked in /proc/self/task/*/status. set*id() calls are
// broadcast by glibc itself.
#include <dirent.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "runtime/privileges.h"

namespace ksight::runtime {

namespace {

// One change, applied by each thread to itself. Filled before the signals go
// out and read only by the handlers, so it may be a plain global: a signal
// handler has no other way to receive it.
struct ThreadStep {
  CapMask drop_bounding = 0;  // dropped when this thread still has CAP_SETPCAP
  int keepcaps = -1;          // PR_SET_KEEPCAPS value, or -1 to leave it
  CapMask caps = 0;           // effective = permitted = caps; inheritable, ambient = none
};
ThreadStep g_step;
std::atomic<int> g_answered{0};
std::atomic<int> g_failed_errno{0};

// Async-signal-safe: raw prctl and capset only.
int apply_step(const ThreadStep& s) {
  int err = 0;
  for (int c = 0; c < 64; ++c) {
    if (!(s.drop_bounding & cap_bit(c))) continue;
    if (::prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;  // gone, or unknown here
    if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) err = errno;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    err = errno;
  if (s.keepcaps >= 0 && ::prctl(PR_SET_KEEPCAPS, s.keepcaps, 0, 0, 0) != 0) err = errno;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  data[0].effective = data[0].permitted = static_cast<uint32_t>(s.caps);
  data[1].effective = data[1].permitted = static_cast<uint32_t>(s.caps >> 32);
  if (::syscall(SYS_capset, &hdr, data) != 0) err = errno;
  return err;
}

void on_step_signal(int) {
  const int saved = errno;
  if (int err = apply_step(g_step)) g_failed_errno.store(err);
  g_answered.fetch_add(1);
  errno = saved;
}

std::vector<pid_t> thread_ids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

// Applies `step` to this thread, then to every other thread (and to threads
// those start meanwhile, until a listing finds no new one).
std::expected<void, std::string> on_every_thread(const ThreadStep& step) {
  g_step = step;
  g_failed_errno = 0;
  if (int err = apply_step(step))
    return std::unexpected(std::string("capset: ") + std::strerror(err));
  // glibc keeps the first two real-time signals. The handler stays installed:
  // a thread that takes its signal late (it was in an uninterruptible sleep)
  // must not die of the default action; applying a step twice changes nothing.
  const int sig = SIGRTMIN + 6;
  struct sigaction sa {};
  sa.sa_handler = on_step_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(sig, &sa, nullptr) != 0)
    return std::unexpected(std::string("sigaction: ") + std::strerror(errno));
  const pid_t pid = ::getpid();
  std::set<pid_t> done{static_cast<pid_t>(::syscall(SYS_gettid))};
  for (int round = 0; round < 10; ++round) {
    std::vector<pid_t> targets;
    for (pid_t tid : thread_ids())
      if (!done.count(tid)) targets.push_back(tid);
    if (targets.empty()) break;
    g_answered = 0;
    int sent = 0;
    for (pid_t tid : targets) {
      done.insert(tid);
      if (::syscall(SYS_tgkill, pid, tid, sig) == 0) ++sent;  // ESRCH: it just ended
    }
    // A thread that was exiting never answers: drop_privileges() checks every
    // thread that is still there afterwards.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (g_answered.load() < sent && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (int err = g_failed_errno.load())
    return std::unexpected(std::string("a thread could not change its capabilities: ") +
                           std::strerror(err));
  return {};
}

struct Account {
  uid_t uid;
  gid_t gid;
  std::string name;
};

std::expected<Account, std::string> find_user(const std::string& user) {
  passwd pw{}, *res = nullptr;
  std::vector<char> buf(16384);
  const bool numeric = user.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) {
    ::getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &res);
    // A uid without a passwd entry (a container's) runs with its uid as gid.
    if (!res)
      return Account{static_cast<uid_t>(std::stoul(user)), static_cast<gid_t>(std::stoul(user)),
                     ""};
  } else {
    ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &res);
    if (!res) return std::unexpected("no user '" + user + "'");
  }
  return Account{res->pw_uid, res->pw_gid, res->pw_name};
}

std::expected<void, std::string> switch_user(const Account& a) {
  // glibc applies each of these to every thread.
  std::vector<gid_t> groups{a.gid};
  if (!a.name.empty()) {
    int n = 64;
    groups.resize(static_cast<size_t>(n));
    if (::getgrouplist(a.name.c_str(), a.gid, groups.data(), &n) < 0) {
      groups.resize(static_cast<size_t>(n));
      ::getgrouplist(a.name.c_str(), a.gid, groups.data(), &n);
    }
    groups.resize(static_cast<size_t>(n));
  }
  if (::setgroups(groups.size(), groups.data()) != 0)
    return std::unexpected(std::string("setgroups: ") + std::strerror(errno));
  if (::setresgid(a.gid, a.gid, a.gid) != 0)
    return std::unexpected(std::string("setresgid: ") + std::strerror(errno));
  if (::setresuid(a.uid, a.uid, a.uid) != 0)
    return std::unexpected(std::string("setresuid: ") + std::strerror(errno));
  return {};
}

}  // namespace

std::expected<void, std::string> check_user(const std::string& user) {
  if (auto a = find_user(user); !a) return std::unexpected(a.error());
  return {};
}

std::expected<DropResult, std::string> drop_privileges(const DropRequest& req) {
  auto before = read_capabilities("/proc/thread-self/status");
  if (!before) return std::unexpected(before.error());
  DropResult result;
  // Nothing can be kept that is not held.
  const CapMask keep = req.keep & before->permitted;
  // PR_CAPBSET_DROP needs CAP_SETPCAP; without it the bounding set stays as
  // it came (systemd's CapabilityBoundingSet= has limited it already).
  result.bounding_dropped = (before->effective & cap_bit(CAP_SETPCAP)) != 0;
  ThreadStep step{.drop_bounding = result.bounding_dropped ? ~keep : 0,
                  .keepcaps = req.user.empty() ? -1 : 1,
                  .caps = keep};
  std::optional<Account> account;
  if (!req.user.empty()) {
    auto a = find_user(req.user);
    if (!a) return std::unexpected(a.error());
    account = *a;
    // setgroups/setresgid/setresuid need these until the switch is done.
    step.caps |= before->permitted & (cap_bit(CAP_SETUID) | cap_bit(CAP_SETGID));
  }
  // The bounding set goes first: dropping from it needs CAP_SETPCAP, which
  // the same step removes from the effective set.
  if (auto r = on_every_thread(step); !r) return std::unexpected(r.error());
  if (account) {
    if (auto r = switch_user(*account); !r) return std::unexpected(r.error());
    ThreadStep after{
        .drop_bounding = result.bounding_dropped ? ~keep : 0, .keepcaps = 0, .caps = keep};
    // setresuid() emptied the effective sets (PR_SET_KEEPCAPS keeps only the
    // permitted ones): raise `keep` again, drop CAP_SETUID/CAP_SETGID.
    if (auto r = on_every_thread(after); !r) return std::unexpected(r.error());
  }
  // Check every thread, not just this one.
  for (pid_t tid : thread_ids()) {
    auto s = read_capabilities("/proc/self/task/" + std::to_string(tid) + "/status");
    if (!s) continue;  // it ended
    const bool bounding_ok = !result.bounding_dropped || (s->bounding & ~keep) == 0;
    if (s->effective != keep || s->permitted != keep || s->inheritable != 0 || s->ambient != 0 ||
        !bounding_ok) {
      return std::unexpected("thread " + std::to_string(tid) + " still holds " +
                             cap_list(s->permitted & ~keep) +
                             " after the drop (does it block real-time signals?)");
    }
  }
  auto now = read_capabilities("/proc/thread-self/status");
  if (!now) return std::unexpected(now.error());
  result.sets = *now;
  result.uid = ::getuid();
  result.gid = ::getgid();
  return result;
}

}  // namespace ksight::runtime
