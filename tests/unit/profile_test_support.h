#pragma once
// Helpers for the profile encoder tests: a scratch directory, running a tool
// and reading its output, and small hand-built profiles.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "profile/stack_profile.h"

namespace ksight::profile::testing {

// A directory under /tmp, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/ksight-profile-test-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1: did not run or was killed
  std::string output;  // stdout and stderr
};

// Runs `command` with /bin/sh (the tests build it from paths they made).
inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  return r;
}

inline bool on_path(const std::string& tool) {
  return run_command("command -v " + tool + " >/dev/null").exit_code == 0;
}

// Debian's python3 (scripts/setup) when present: a pyenv shim earlier on PATH
// costs half a second a run. Empty when there is none.
inline std::string python3() {
  if (::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  return on_path("python3") ? "python3" : "";
}

inline Frame user_frame(std::string function, std::string module, uint64_t address,
                        std::string build_id = {}) {
  Frame f;
  f.function = std::move(function);
  f.module = std::move(module);
  f.build_id = std::move(build_id);
  f.address = address;
  f.module_offset = address & 0xffff;
  return f;
}

inline Frame kernel_frame(std::string function, uint64_t address) {
  Frame f;
  f.function = std::move(function);
  f.module = "[kernel.kallsyms]";
  f.address = address;
  f.kernel = true;
  return f;
}

inline Sample sample(std::string comm, uint32_t pid, std::vector<Frame> frames_leaf_first,
                     uint64_t count, uint64_t value_ns = 0) {
  Sample s;
  s.comm = std::move(comm);
  s.pid = pid;
  s.frames = std::move(frames_leaf_first);
  s.count = count;
  s.value_ns = value_ns;
  return s;
}

}  // namespace ksight::profile::testing
