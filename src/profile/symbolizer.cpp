#include "profile/symbolizer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>

#include "core/unique_fd.h"
#include "profile/elf_symbols.h"
#include "profile/kernel_symbols.h"
#include "profile/lru_cache.h"
#include "profile/process_maps.h"

namespace ksight::profile {

namespace {

using Clock = std::chrono::steady_clock;

struct FileKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileKey&) const = default;
};

struct FileKeyHash {
  size_t operator()(const FileKey& k) const {
    return std::hash<uint64_t>{}(k.dev * 0x9e3779b97f4a7c15ULL ^ k.ino);
  }
};

struct CachedFile {
  std::shared_ptr<const ElfSymbols> elf;  // null: not ELF (remembered so as not to retry)
  int64_t mtime_ns = 0;
  int64_t size = 0;
};

struct MappedFile {
  Mapping mapping;
  std::shared_ptr<const ElfSymbols> elf;  // null for anonymous, special or unreadable
};

struct ProcessImage {
  std::vector<MappedFile> mappings;  // sorted by start
  Clock::time_point read_at;
};

// Hash of the loaded modules' names and addresses: the columns that change
// only when a module is loaded or unloaded (not its reference count).
size_t modules_fingerprint(const std::string& path) {
  std::ifstream in(path);
  std::string line, all;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, size, refs, users, state, address;
    fields >> name >> size >> refs >> users >> state >> address;
    all.append(name).append(address).push_back('\n');
  }
  return std::hash<std::string>{}(all);
}

int64_t mtime_ns(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

struct Symbolizer::State {
  explicit State(Options o)
      : options(std::move(o)),
        kallsyms(::open(options.kallsyms_path.c_str(), O_RDONLY | O_CLOEXEC)),
        processes(options.max_processes),
        files(options.max_files, options.max_file_bytes) {}

  Options options;
  mutable std::mutex mutex;
  Stats stats;

  core::UniqueFd kallsyms;
  std::optional<KernelSymbols> kernel;
  size_t modules_hash = 0;
  Clock::time_point modules_checked_at;

  LruCache<uint32_t, std::shared_ptr<const ProcessImage>> processes;
  LruCache<FileKey, CachedFile, FileKeyHash> files;

  const KernelSymbols& kernel_symbols();
  std::shared_ptr<const ElfSymbols> symbols_of(uint32_t pid, const Mapping& m);
  std::optional<ProcessImage> capture(uint32_t pid);
  void cache_process(uint32_t pid, ProcessImage image);
  Frame kernel_frame(uint64_t ip, bool return_address);
  Frame user_frame(const ProcessImage* image, uint64_t ip, bool return_address);
  void user_frames(uint32_t pid, std::span<const uint64_t> ips, bool leaf_first,
                   std::vector<Frame>& out);
};

const KernelSymbols& Symbolizer::State::kernel_symbols() {
  Clock::time_point now = Clock::now();
  if (kernel && now - modules_checked_at < options.module_check_interval) return *kernel;
  modules_checked_at = now;
  size_t hash = modules_fingerprint(options.modules_path);
  if (!kernel || hash != modules_hash) {
    kernel = kallsyms ? KernelSymbols::load_fd(kallsyms.get())
                      : KernelSymbols::load(options.kallsyms_path);
    modules_hash = hash;
    ++stats.kernel_symbol_loads;
  }
  return *kernel;
}

std::shared_ptr<const ElfSymbols> Symbolizer::State::symbols_of(uint32_t pid, const Mapping& m) {
  std::string proc = options.proc_root + "/" + std::to_string(pid);
  // The file as the process sees it, in its own mount namespace (a
  // container's /usr/lib is not the host's). O_NONBLOCK: a hostile process
  // may map a path that is now a FIFO; open must not wait for a writer.
  constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
  core::UniqueFd fd;
  if (!m.deleted) fd = core::UniqueFd(::open((proc + "/root" + m.path).c_str(), kFlags));
  if (!fd) {
    // Deleted or replaced files and memfds: the mapped file itself
    // (CAP_SYS_ADMIN).
    char range[48];
    std::snprintf(range, sizeof(range), "/map_files/%llx-%llx",
                  static_cast<unsigned long long>(m.start), static_cast<unsigned long long>(m.end));
    fd = core::UniqueFd(::open((proc + range).c_str(), kFlags));
  }
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    ++stats.file_errors;
    return nullptr;
  }
  FileKey key{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  if (CachedFile* hit = files.get(key);
      hit && hit->mtime_ns == mtime_ns(st) && hit->size == st.st_size) {
    ++stats.file_hits;
    return hit->elf;
  }
  ++stats.file_misses;
  CachedFile entry{nullptr, mtime_ns(st), static_cast<int64_t>(st.st_size)};
  if (auto parsed = ElfSymbols::parse(fd.get())) {
    entry.elf = std::move(*parsed);
  } else {
    ++stats.file_errors;
  }
  size_t weight = entry.elf ? entry.elf->memory_bytes() : sizeof(CachedFile);
  auto elf = entry.elf;
  stats.file_evictions += files.put(key, std::move(entry), weight);
  return elf;
}

std::optional<ProcessImage> Symbolizer::State::capture(uint32_t pid) {
  auto maps = read_executable_mappings(options.proc_root, pid);
  if (!maps) return std::nullopt;
  ProcessImage image;
  image.read_at = Clock::now();
  image.mappings.reserve(maps->size());
  for (Mapping& m : *maps) {
    std::shared_ptr<const ElfSymbols> elf;
    if (m.kind == MappingKind::file) elf = symbols_of(pid, m);
    image.mappings.push_back({std::move(m), std::move(elf)});
  }
  return image;
}

void Symbolizer::State::cache_process(uint32_t pid, ProcessImage image) {
  stats.process_evictions +=
      processes.put(pid, std::make_shared<const ProcessImage>(std::move(image)));
}

Frame Symbolizer::State::kernel_frame(uint64_t ip, bool return_address) {
  Frame f;
  f.kernel = true;
  f.address = ip;
  f.module_offset = ip;
  auto sym = kernel_symbols().lookup(return_address ? ip - 1 : ip);
  if (sym) {
    f.function = std::string(sym->name);
    f.module = std::string(sym->module);
  } else {
    // kptr_restrict (every address read as 0) or an address below every
    // symbol: the raw address in the core kernel is all there is to say.
    f.module = std::string(kCoreKernelModule);
  }
  return f;
}

Frame Symbolizer::State::user_frame(const ProcessImage* image, uint64_t ip, bool return_address) {
  Frame f;
  f.address = ip;
  uint64_t at = return_address ? ip - 1 : ip;
  const MappedFile* mapped = nullptr;
  if (image != nullptr) {
    auto it = std::upper_bound(image->mappings.begin(), image->mappings.end(), at,
                               [](uint64_t a, const MappedFile& m) { return a < m.mapping.start; });
    if (it != image->mappings.begin() && at < std::prev(it)->mapping.end) mapped = &*std::prev(it);
  }
  if (mapped == nullptr) {
    f.module = std::string(kUnknownModule);
    f.module_offset = ip;
    return f;
  }
  const Mapping& m = mapped->mapping;
  switch (m.kind) {
    case MappingKind::anonymous:
      f.module = std::string(kAnonymousModule);
      f.module_offset = ip - m.start;
      return f;
    case MappingKind::special:
      f.module = m.path;
      f.module_offset = ip - m.start;
      return f;
    case MappingKind::file:
      break;
  }
  f.module = m.path;
  uint64_t file_offset = ip - m.start + m.offset;
  if (!mapped->elf) {
    f.module_offset = file_offset;
    return f;
  }
  f.build_id = mapped->elf->build_id();
  f.module_offset = mapped->elf->vaddr_of_file_offset(file_offset);
  uint64_t lookup_vaddr = mapped->elf->vaddr_of_file_offset(at - m.start + m.offset);
  if (auto sym = mapped->elf->lookup(lookup_vaddr)) f.function = demangle(sym->name);
  return f;
}

void Symbolizer::State::user_frames(uint32_t pid, std::span<const uint64_t> ips, bool leaf_first,
                                    std::vector<Frame>& out) {
  if (ips.empty()) return;
  std::shared_ptr<const ProcessImage> image;
  if (auto* cached = processes.get(pid)) {
    ++stats.process_hits;
    image = *cached;
  } else {
    ++stats.process_misses;
    if (auto captured = capture(pid)) {
      cache_process(pid, std::move(*captured));
      image = *processes.get(pid);
    } else {
      ++stats.processes_not_found;
    }
  }
  bool refreshed = false;
  for (size_t i = 0; i < ips.size(); ++i) {
    Frame f = user_frame(image.get(), ips[i], leaf_first && i > 0);
    if (f.module == kUnknownModule && image && !refreshed &&
        Clock::now() - image->read_at >= options.maps_refresh_interval) {
      // Perhaps mapped after the process was remembered (dlopen): re-read
      // its mappings once, if it still runs.
      refreshed = true;
      if (auto captured = capture(pid)) {
        ++stats.maps_refreshes;
        cache_process(pid, std::move(*captured));
        image = *processes.get(pid);
        f = user_frame(image.get(), ips[i], leaf_first && i > 0);
      }
    }
    ++stats.frames;
    if (f.function.empty()) ++stats.frames_unknown;
    out.push_back(std::move(f));
  }
}

Symbolizer::Symbolizer() : Symbolizer(Options{}) {}

Symbolizer::Symbolizer(Options options) : state_(std::make_unique<State>(std::move(options))) {}

Symbolizer::~Symbolizer() = default;

bool Symbolizer::remember_process(uint32_t pid) {
  std::lock_guard lock(state_->mutex);
  auto image = state_->capture(pid);
  if (!image) return false;
  ++state_->stats.processes_remembered;
  state_->cache_process(pid, std::move(*image));
  return true;
}

void Symbolizer::forget_process(uint32_t pid) {
  std::lock_guard lock(state_->mutex);
  state_->processes.erase(pid);
}

std::vector<Frame> Symbolizer::symbolize_kernel(std::span<const uint64_t> ips) {
  std::lock_guard lock(state_->mutex);
  std::vector<Frame> frames;
  frames.reserve(ips.size());
  for (uint64_t ip : ips) {
    frames.push_back(state_->kernel_frame(ip, false));
    ++state_->stats.frames;
    if (frames.back().function.empty()) ++state_->stats.frames_unknown;
  }
  return frames;
}

std::vector<Frame> Symbolizer::symbolize_user(uint32_t pid, std::span<const uint64_t> ips) {
  std::lock_guard lock(state_->mutex);
  std::vector<Frame> frames;
  frames.reserve(ips.size());
  state_->user_frames(pid, ips, false, frames);
  return frames;
}

Sample Symbolizer::symbolize(const RawStack& stack) {
  Sample sample;
  sample.pid = stack.pid;
  sample.cgroup_id = stack.cgroup_id;
  sample.comm = stack.comm;
  sample.count = stack.count;
  sample.value_ns = stack.value_ns;
  sample.frames.reserve(stack.kernel_ips.size() + stack.user_ips.size());
  std::lock_guard lock(state_->mutex);
  for (size_t i = 0; i < stack.kernel_ips.size(); ++i) {
    sample.frames.push_back(state_->kernel_frame(stack.kernel_ips[i], i > 0));
    ++state_->stats.frames;
    if (sample.frames.back().function.empty()) ++state_->stats.frames_unknown;
  }
  state_->user_frames(stack.pid, stack.user_ips, true, sample.frames);
  return sample;
}

Symbolizer::Stats Symbolizer::stats() const {
  std::lock_guard lock(state_->mutex);
  Stats s = state_->stats;
  s.processes_cached = state_->processes.size();
  s.files_cached = state_->files.size();
  s.file_cache_bytes = state_->files.weight();
  return s;
}

}  // namespace ksight::profile
