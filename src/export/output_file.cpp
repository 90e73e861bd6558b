#include "export/output_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ksight::exporters {

std::expected<int, std::string> OutputFile::open_fd(const std::string& path) {
  if (path == "-") return STDOUT_FILENO;
  // 0640: events name commands, files and addresses of every user.
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
  if (fd >= 0) return fd;
  if (errno == ELOOP)
    return std::unexpected("refusing to write to " + path +
                           ": it is a symbolic link (name the file it points to)");
  return std::unexpected("cannot open " + path + ": " + std::strerror(errno));
}

std::expected<std::unique_ptr<OutputFile>, std::string> OutputFile::open(const std::string& path) {
  auto fd = open_fd(path);
  if (!fd) return std::unexpected(fd.error());
  return std::unique_ptr<OutputFile>(new OutputFile(path, *fd));
}

OutputFile::~OutputFile() {
  if (fd_ > STDERR_FILENO) ::close(fd_);
}

bool OutputFile::write(std::string_view data) {
  std::lock_guard lock(mu_);
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      if (!failing_) spdlog::error("writing {}: {}", path_, std::strerror(err));
      failing_ = true;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (failing_) spdlog::info("writing {} works again", path_);
  failing_ = false;
  return true;
}

std::expected<void, std::string> OutputFile::reopen() {
  if (path_ == "-") return {};
  auto fd = open_fd(path_);
  if (!fd) return std::unexpected(fd.error());
  std::lock_guard lock(mu_);
  ::close(fd_);
  fd_ = *fd;
  return {};
}

}  // namespace ksight::exporters
