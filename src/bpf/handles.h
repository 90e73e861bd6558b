#pragma once
// Move-only owners of the kernel objects ksight creates: a file descriptor, a
// bpf_link. Destroying them is what detaches programs and frees maps, so
// every exit path (return, exception, signal-driven shutdown) cleans up.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <utility>

#include "core/unique_fd.h"

namespace ksight::bpf {

// A file descriptor: closing the last one of a map or program frees it.
using Fd = core::UniqueFd;

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
