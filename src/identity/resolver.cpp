#include "identity/resolver.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include "core/clock.h"
#include "identity/pod_store.h"
#include "runtime/cgroup.h"

namespace ksight::identity {
namespace {

constexpr std::array<std::string_view, static_cast<size_t>(Label::count)> kLabelNames = {
    "namespace", "pod",       "container",    "workload", "workload_kind", "unit",
    "cgroup",    "cgroup_id", "container_id", "pod_uid",  "qos",           "runtime"};

constexpr std::array<std::string_view, static_cast<size_t>(Unresolved::count)> kUnresolved = {
    "cgroup_gone", "unknown_path", "pod_unknown", "cache_full"};

std::string short_id(std::string_view id) {
  return std::string(id.substr(0, 12));
}

}  // namespace

std::string_view label_name(Label l) {
  return kLabelNames.at(static_cast<size_t>(l));
}

std::expected<Label, std::string> parse_label(std::string_view name) {
  for (size_t i = 0; i < kLabelNames.size(); ++i) {
    if (kLabelNames[i] == name) return static_cast<Label>(i);
  }
  std::string known;
  for (auto n : kLabelNames) known += (known.empty() ? "" : ", ") + std::string(n);
  return std::unexpected("unknown identity label '" + std::string(name) + "' (one of: " + known +
                         ")");
}

std::vector<Label> default_labels() {
  return {Label::namespace_, Label::pod,           Label::container,
          Label::workload,   Label::workload_kind, Label::unit};
}

std::string_view to_string(Unresolved r) {
  return kUnresolved.at(static_cast<size_t>(r));
}

Resolver::Resolver(Options opts) : opts_(std::move(opts)) {
  for (auto l : opts_.labels) names_.emplace_back(label_name(l));
  if (opts_.cgroup_root.empty()) opts_.cgroup_root = runtime::cgroup2_mount();
  if (!opts_.cgroup_root.empty()) {
    mount_fd_ = ::open(opts_.cgroup_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
}

Resolver::~Resolver() {
  if (mount_fd_ >= 0) ::close(mount_fd_);
}

std::string Resolver::path_of(uint64_t id) {
  if (opts_.lookup_path) return opts_.lookup_path(id);
  if (mount_fd_ < 0) return {};
  if (use_handles_) {
    // kernfs exports cgroup directories by the 64-bit id BPF sees
    // (FILEID_KERNFS, kernel 5.5+): one syscall, no walk.
    alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(uint64_t)] = {};
    auto* fh = reinterpret_cast<file_handle*>(buf);
    fh->handle_bytes = sizeof(uint64_t);
    fh->handle_type = 0xfe;  // FILEID_KERNFS
    std::memcpy(fh->f_handle, &id, sizeof(id));
    const int fd = ::open_by_handle_at(mount_fd_, fh, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char link[64], target[4096];
      std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
      const ssize_t n = ::readlink(link, target, sizeof(target));
      ::close(fd);
      if (n <= 0) return {};
      std::string_view abs(target, static_cast<size_t>(n));
      const std::string_view root = opts_.cgroup_root;
      if (abs.starts_with(root)) abs.remove_prefix(root.size());
      return abs.empty() ? std::string("/") : std::string(abs);
    }
    if (errno == ESTALE || errno == ENOENT) return {};
    use_handles_ = false;  // EPERM (no CAP_DAC_READ_SEARCH), EOPNOTSUPP: walk instead
  }
  auto it = walked_.find(id);
  const uint64_t now = core::mono_ns();
  if (it == walked_.end() && now - walked_at_ns_ > 1'000'000'000ull) {
    walked_at_ns_ = now;
    walked_.clear();
    for (auto& [cid, path] : runtime::cgroup_paths()) walked_.emplace(cid, std::move(path));
    it = walked_.find(id);
  }
  return it == walked_.end() ? std::string() : it->second;
}

void Resolver::join_pods(Identity& id) {
  const auto& p = id.parsed;
  id.ns.clear();
  id.workload.clear();
  id.workload_kind.clear();
  // Without Kubernetes metadata a pod is its UID and a container its short
  // id: something to tell them apart, never nothing.
  id.pod = p.pod_uid;
  id.container = p.container_id.empty() ? std::string() : short_id(p.container_id);
  if (!opts_.pods || (p.pod_uid.empty() && p.container_id.empty())) return;
  std::optional<PodMeta> pod;
  if (!p.container_id.empty()) {
    if (auto hit = opts_.pods->by_container_id(p.container_id)) {
      id.container = hit->second.name;
      pod = std::move(hit->first);
    }
  }
  if (!pod && !p.pod_uid.empty()) pod = opts_.pods->by_uid(p.pod_uid);
  if (!pod) {
    count(Unresolved::pod_unknown);
    return;
  }
  id.ns = pod->ns;
  id.pod = pod->name;
  id.workload = pod->workload;
  id.workload_kind = pod->workload_kind;
}

void Resolver::fill_values(Identity& id) const {
  auto set = [&](Label l, std::string v) { id.values[static_cast<size_t>(l)] = std::move(v); };
  set(Label::namespace_, id.ns);
  set(Label::pod, id.pod);
  set(Label::container, id.container);
  set(Label::workload, id.workload);
  set(Label::workload_kind, id.workload_kind);
  // Outside containers, the systemd unit; when no layout matched, the path;
  // when even that is gone, the id: a series is never left without a name.
  std::string unit = id.parsed.unit;
  if (unit.empty() && id.parsed.container_id.empty() && id.parsed.pod_uid.empty()) {
    unit = id.path.empty() ? "cgroup_id:" + std::to_string(id.cgroup_id) : id.path;
  }
  set(Label::unit, std::move(unit));
  set(Label::cgroup, id.path);
  set(Label::cgroup_id, std::to_string(id.cgroup_id));
  set(Label::container_id, id.parsed.container_id);
  set(Label::pod_uid, id.parsed.pod_uid);
  set(Label::qos, id.parsed.qos);
  set(Label::runtime, id.parsed.runtime);
}

std::shared_ptr<Identity> Resolver::build(uint64_t cgroup_id, std::string path) {
  auto id = std::make_shared<Identity>();
  id->cgroup_id = cgroup_id;
  if (cgroup_id == 0) {
    // What the kernel side files under no cgroup: packets without a local
    // socket, and cgroups past a map's limit.
    fill_values(*id);
    id->values[static_cast<size_t>(Label::unit)] = "(no cgroup)";
    return id;
  }
  id->path = std::move(path);
  if (id->path.empty()) {
    count(Unresolved::cgroup_gone);
  } else {
    id->parsed = parse_cgroup_path(id->path);
    if (id->parsed.container_id.empty() && id->parsed.pod_uid.empty() && id->parsed.unit.empty() &&
        id->path != "/") {
      count(Unresolved::unknown_path);
    }
  }
  join_pods(*id);
  fill_values(*id);
  return id;
}

const Resolver::Entry& Resolver::entry_locked(uint64_t cgroup_id) {
  const uint64_t gen = opts_.pods ? opts_.pods->generation() : 0;
  auto it = entries_.find(cgroup_id);
  if (it != entries_.end()) {
    Entry& e = it->second;
    // The pod store changed: join again what the path gave (no syscalls).
    const auto& p = e.identity->parsed;
    if (e.pods_generation != gen && (!p.pod_uid.empty() || !p.container_id.empty())) {
      auto id = std::make_shared<Identity>(*e.identity);
      join_pods(*id);
      fill_values(*id);
      e.identity = std::move(id);
      e.events.reset();
    }
    e.pods_generation = gen;
    return e;
  }
  Entry fresh{build(cgroup_id, cgroup_id ? path_of(cgroup_id) : std::string()), nullptr, gen, 0};
  if (entries_.size() >= opts_.max_entries) {
    // Full of live cgroups: serve this one uncached rather than evict one
    // whose identity may no longer be found.
    count(Unresolved::cache_full);
    scratch_ = std::move(fresh);
    return scratch_;
  }
  return entries_.emplace(cgroup_id, std::move(fresh)).first->second;
}

std::shared_ptr<const Identity> Resolver::resolve(uint64_t cgroup_id) {
  std::lock_guard lock(mu_);
  return entry_locked(cgroup_id).identity;
}

std::shared_ptr<const Resolver::EventLabels> Resolver::event_labels(uint64_t cgroup_id) {
  std::lock_guard lock(mu_);
  Entry& e = const_cast<Entry&>(entry_locked(cgroup_id));
  if (!e.events) {
    auto ev = std::make_shared<EventLabels>();
    ev->identity = e.identity;
    for (auto l : opts_.labels) {
      const std::string& v = ev->identity->values[static_cast<size_t>(l)];
      if (!v.empty()) ev->pairs.emplace_back(label_name(l), v);
    }
    e.events = std::move(ev);
  }
  return e.events;
}

void Resolver::expand(std::string_view value, std::vector<std::string>& out) {
  uint64_t cgroup_id = 0;
  std::from_chars(value.data(), value.data() + value.size(), cgroup_id);
  std::lock_guard lock(mu_);
  const Identity& id = *entry_locked(cgroup_id).identity;
  out.resize(opts_.labels.size());
  for (size_t i = 0; i < opts_.labels.size(); ++i) {
    out[i] = id.values[static_cast<size_t>(opts_.labels[i])];
  }
}

void Resolver::mark_gone(uint64_t cgroup_id, uint64_t now_mono_ns) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(cgroup_id);
  if (it != entries_.end() && it->second.gone_since_ns == 0) {
    it->second.gone_since_ns = now_mono_ns ? now_mono_ns : 1;
  }
}

void Resolver::expire(uint64_t now_mono_ns) {
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [&](const auto& kv) {
    const uint64_t since = kv.second.gone_since_ns;
    return since && now_mono_ns > since && now_mono_ns - since > opts_.gone_grace_ns;
  });
}

void Resolver::sweep(uint64_t now_mono_ns, const std::function<bool(uint64_t)>& exists) {
  std::vector<uint64_t> alive;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) {
      if (!e.gone_since_ns) alive.push_back(id);
    }
  }
  for (uint64_t id : alive) {
    if (!exists(id)) mark_gone(id, now_mono_ns);
  }
  expire(now_mono_ns);
}

size_t Resolver::publish(core::Registry& reg) {
  auto unresolved = reg.add(
      {.name = "ksight_identity_unresolved_total",
       .help = "cgroups labelled with less than a full identity, by reason: cgroup_gone (it went "
               "before it was resolved: labelled by id), unknown_path (no known layout: labelled "
               "by path), pod_unknown (a pod the Kubernetes watch does not know: labelled by pod "
               "UID and container id), cache_full.",
       .kind = core::MetricKind::counter,
       .label_names = {"reason"},
       .expires = false});
  auto entries = reg.add({.name = "ksight_identity_cache_entries",
                          .help = "cgroups whose identity is cached.",
                          .kind = core::MetricKind::gauge,
                          .expires = false});
  return reg.add_refresher([this, unresolved, entries](core::Registry::Writer& w) {
    for (size_t r = 0; r < static_cast<size_t>(Unresolved::count); ++r) {
      w.set(unresolved, {to_string(static_cast<Unresolved>(r))},
            static_cast<double>(unresolved_[r].load(std::memory_order_relaxed)));
    }
    w.set(entries, {}, static_cast<double>(cached()));
  });
}

size_t Resolver::discover(uint64_t now_mono_ns) {
  if (opts_.lookup_path || now_mono_ns - discovered_at_ns_ < opts_.discover_interval_ns) return 0;
  discovered_at_ns_ = now_mono_ns;
  // The walk runs outside the lock: the dispatcher and scrapes go on.
  auto paths = runtime::cgroup_paths(opts_.max_entries);
  const uint64_t gen = opts_.pods ? opts_.pods->generation() : 0;
  size_t added = 0;
  std::lock_guard lock(mu_);
  for (auto& [cgroup_id, path] : paths) {
    if (entries_.size() >= opts_.max_entries) break;
    if (entries_.count(cgroup_id)) continue;
    entries_.emplace(cgroup_id, Entry{build(cgroup_id, std::move(path)), nullptr, gen, 0});
    ++added;
  }
  return added;
}

size_t Resolver::cached() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace ksight::identity
