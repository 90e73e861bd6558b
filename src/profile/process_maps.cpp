#include "profile/process_maps.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string_view>

namespace ksight::profile {

namespace {

constexpr std::string_view kDeletedSuffix = " (deleted)";

}  // namespace

std::vector<Mapping> parse_executable_mappings(std::istream& in) {
  std::vector<Mapping> maps;
  std::string line;
  while (std::getline(in, line)) {
    // "7f2c1a400000-7f2c1a595000 r-xp 00028000 fe:01 1234  /usr/lib/x86_64-linux-gnu/libc.so.6"
    unsigned long long start = 0, end = 0, offset = 0, inode = 0;
    char perms[8] = {};
    unsigned dev_major = 0, dev_minor = 0;
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &offset,
                    &dev_major, &dev_minor, &inode, &path_at) != 7)
      continue;
    if (std::strlen(perms) < 3 || perms[2] != 'x') continue;
    Mapping m;
    m.start = start;
    m.end = end;
    m.offset = offset;
    m.inode = inode;
    std::string_view path =
        path_at > 0 ? std::string_view(line).substr(static_cast<size_t>(path_at)) : "";
    while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
    if (path.ends_with(kDeletedSuffix)) {
      m.deleted = true;
      path.remove_suffix(kDeletedSuffix.size());
    }
    if (path.empty()) {
      m.kind = MappingKind::anonymous;
    } else if (path.front() == '[') {
      m.kind = MappingKind::special;
    } else {
      // Files, including "/memfd:name": those open through map_files.
      m.kind = MappingKind::file;
    }
    m.path = std::string(path);
    maps.push_back(std::move(m));
  }
  std::sort(maps.begin(), maps.end(),
            [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  return maps;
}

std::expected<std::vector<Mapping>, std::string> read_executable_mappings(
    const std::string& proc_root, uint32_t pid) {
  std::string path = proc_root + "/" + std::to_string(pid) + "/maps";
  std::ifstream in(path);
  if (!in) return std::unexpected(path + ": " + std::strerror(errno));
  auto maps = parse_executable_mappings(in);
  // A process that exited between open and read shows an empty file.
  if (maps.empty()) return std::unexpected(path + ": no executable mappings");
  return maps;
}

}  // namespace ksight::profile
