#pragma once
// The executable mappings of a process, from /proc/PID/maps: where each file
// (or anonymous region, vdso, JIT code) sits in its address space.
#include <cstdint>
#include <expected>
#include <istream>
#include <string>
#include <vector>

namespace ksight::profile {

enum class MappingKind {
  file,       // a path: an executable or a shared library
  anonymous,  // no path: JIT code, or code the process wrote itself
  special,    // "[vdso]", "[vsyscall]", "[anon:name]" and the like
};

struct Mapping {
  uint64_t start = 0;
  uint64_t end = 0;     // exclusive
  uint64_t offset = 0;  // of `start` in the file
  uint64_t inode = 0;
  MappingKind kind = MappingKind::anonymous;
  bool deleted = false;  // the file was replaced or removed since it was mapped
  std::string path;      // as the process sees it, without " (deleted)"; "[vdso]" for special
};

// Executable mappings of `in` (the text of /proc/PID/maps), sorted by start.
std::vector<Mapping> parse_executable_mappings(std::istream& in);

// The same read from `proc_root`/PID/maps; an error when the process is gone.
std::expected<std::vector<Mapping>, std::string> read_executable_mappings(
    const std::string& proc_root, uint32_t pid);

}  // namespace ksight::profile
