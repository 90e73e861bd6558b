#pragma once
// Move-only owners of the kernel objects ksight creates: a file descriptor, a
// bpf_link. Destroying them is what detaches programs and frees maps, so
// every exit path (return, exception, signal-driven shutdown) cleans up.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <utility>

namespace ksight::bpf {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* l) : link_(l) {}
  Link(Link&& o) noexcept : link_(std::exchange(o.link_, nullptr)) {}
  Link& operator=(Link&& o) noexcept {
    if (this != &o) {
      reset();
      link_ = std::exchange(o.link_, nullptr);
    }
    return *this;
  }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }

  explicit operator bool() const { return link_ != nullptr; }
  void reset() {
    if (link_) bpf_link__destroy(link_);
    link_ = nullptr;
  }

 private:
  bpf_link* link_ = nullptr;
};

}  // namespace ksight::bpf
