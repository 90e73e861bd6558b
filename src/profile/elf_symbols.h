#pragma once
// The function symbols, load segments and GNU build id of one ELF file,
// parsed once with libelf and then shared by every process that maps it.
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksight::profile {

struct ElfSymbol {
  std::string_view name;  // as in the symbol table (mangled)
  uint64_t start = 0;     // ELF virtual address
  uint64_t size = 0;
};

class ElfSymbols {
 public:
  // Parses the open file `fd` (not kept open). `.symtab` when the file has
  // one, `.dynsym` when it was stripped. An error when it is not ELF.
  static std::expected<std::shared_ptr<const ElfSymbols>, std::string> parse(int fd);

  // ELF virtual address of a file offset, through the PT_LOAD segment that
  // holds it (the identity where none does).
  uint64_t vaddr_of_file_offset(uint64_t file_offset) const;
  // The function that covers `vaddr`: the symbol's size when it has one, up
  // to the next symbol when its size is 0.
  std::optional<ElfSymbol> lookup(uint64_t vaddr) const;

  const std::string& build_id() const { return build_id_; }  // lower-case hex, or ""
  size_t symbol_count() const { return symbols_.size(); }
  // What this object holds in memory, for the cache's bound in bytes.
  size_t memory_bytes() const;

 private:
  struct Symbol {
    uint64_t start;
    uint64_t size;
    uint32_t name_at;  // offset in names_
  };
  struct Segment {
    uint64_t file_offset;
    uint64_t file_size;
    uint64_t vaddr;
  };
  std::vector<Symbol> symbols_;  // sorted by start, one per address
  std::string names_;            // NUL-separated
  std::vector<Segment> segments_;
  std::string build_id_;
};

// "_ZN3foo3barEv" -> "foo::bar()"; other names unchanged.
std::string demangle(std::string_view name);

}  // namespace ksight::profile
