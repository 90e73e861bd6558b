#pragma once
// A file ksight appends its outputs to (JSON lines events, OTLP documents):
// created 0640 and never through a symbolic link (root writing where a local
// user's link points is how files get clobbered), reopened on SIGHUP so
// logrotate can rename it away, and write failures (disk full) counted
// instead of fatal. "-" is standard output.
#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace ksight::exporters {

class OutputFile {
 public:
  static std::expected<std::unique_ptr<OutputFile>, std::string> open(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes all of `data`; false when it could not (the failure is counted and
  // logged, once per run of failures).
  bool write(std::string_view data);
  // Opens the path again: after a rename the new writes go to a new file.
  // Standard output is left as it is.
  std::expected<void, std::string> reopen();

  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  OutputFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  static std::expected<int, std::string> open_fd(const std::string& path);

  const std::string path_;
  std::mutex mu_;  // the writer thread against a reopen from the main thread
  int fd_;
  bool failing_ = false;  // logged the current run of failures
  std::atomic<uint64_t> write_errors_{0};
};

}  // namespace ksight::exporters
