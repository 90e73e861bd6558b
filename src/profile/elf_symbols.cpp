#include "profile/elf_symbols.h"

#include <cxxabi.h>
#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace ksight::profile {

namespace {

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};
using ElfHandle = std::unique_ptr<Elf, ElfCloser>;

bool libelf_ready() {
  // elf_version must be called once before any other libelf call.
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

std::string hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

// The NT_GNU_BUILD_ID note in `notes`, as hex; "" when it has none.
std::string build_id_in(Elf_Data* notes) {
  if (notes == nullptr || notes->d_buf == nullptr) return {};
  size_t offset = 0;
  GElf_Nhdr header;
  size_t name_at = 0, desc_at = 0;
  while (offset < notes->d_size) {
    size_t next = gelf_getnote(notes, offset, &header, &name_at, &desc_at);
    if (next == 0) break;
    const auto* base = static_cast<const unsigned char*>(notes->d_buf);
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        std::memcmp(base + name_at, "GNU", 4) == 0 && header.n_descsz > 0)
      return hex(base + desc_at, header.n_descsz);
    offset = next;
  }
  return {};
}

// Build ids sit in a PT_NOTE segment of every loadable file; section headers
// are the fallback for files whose program headers do not carry it.
std::string read_build_id(Elf* elf, size_t phnum) {
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_NOTE) continue;
    Elf_Type type = ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR;
    std::string id = build_id_in(
        elf_getdata_rawchunk(elf, static_cast<int64_t>(ph.p_offset), ph.p_filesz, type));
    if (!id.empty()) return id;
  }
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_NOTE) continue;
    std::string id = build_id_in(elf_getdata(scn, nullptr));
    if (!id.empty()) return id;
  }
  return {};
}

// Among aliases at one address (malloc and __libc_malloc), name the frame
// after the global one, then the weak one, then the one with the shortest name.
int binding_rank(unsigned char info) {
  switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
      return 0;
    case STB_WEAK:
      return 1;
    default:
      return 2;
  }
}

struct Candidate {
  uint64_t start;
  uint64_t size;
  int rank;
  std::string_view name;
};

std::vector<Candidate> function_symbols(Elf* elf, Elf_Scn* table) {
  std::vector<Candidate> out;
  GElf_Shdr sh;
  if (table == nullptr || gelf_getshdr(table, &sh) == nullptr || sh.sh_entsize == 0) return out;
  Elf_Data* data = elf_getdata(table, nullptr);
  if (data == nullptr) return out;
  size_t count = sh.sh_size / sh.sh_entsize;
  for (size_t i = 0; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0) continue;
    const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
    if (name == nullptr || *name == '\0') continue;
    out.push_back({sym.st_value, sym.st_size, binding_rank(sym.st_info), name});
  }
  return out;
}

}  // namespace

std::expected<std::shared_ptr<const ElfSymbols>, std::string> ElfSymbols::parse(int fd) {
  if (!libelf_ready()) return std::unexpected("libelf: " + std::string(elf_errmsg(-1)));
  ElfHandle elf(elf_begin(fd, ELF_C_READ_MMAP, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF)
    return std::unexpected("not an ELF file: " + std::string(elf_errmsg(-1)));

  auto result = std::make_shared<ElfSymbols>();
  size_t phnum = 0;
  if (elf_getphdrnum(elf.get(), &phnum) != 0) phnum = 0;
  for (size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf.get(), static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD)
      continue;
    result->segments_.push_back({ph.p_offset, ph.p_filesz, ph.p_vaddr});
  }
  result->build_id_ = read_build_id(elf.get(), phnum);

  Elf_Scn* symtab = nullptr;
  Elf_Scn* dynsym = nullptr;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf.get(), scn)) != nullptr) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    if (sh.sh_type == SHT_SYMTAB) symtab = scn;
    if (sh.sh_type == SHT_DYNSYM) dynsym = scn;
  }
  std::vector<Candidate> candidates = function_symbols(elf.get(), symtab);
  if (candidates.empty()) candidates = function_symbols(elf.get(), dynsym);
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.rank != b.rank) return a.rank < b.rank;
    return a.name.size() < b.name.size();
  });
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    if (!result->symbols_.empty() && result->symbols_.back().start == c.start) {
      // An alias of the preferred name: keep the largest size any of them has.
      result->symbols_.back().size = std::max(result->symbols_.back().size, c.size);
      continue;
    }
    result->symbols_.push_back({c.start, c.size, static_cast<uint32_t>(result->names_.size())});
    result->names_.append(c.name);
    result->names_.push_back('\0');
  }
  result->symbols_.shrink_to_fit();
  result->names_.shrink_to_fit();
  return result;
}

uint64_t ElfSymbols::vaddr_of_file_offset(uint64_t file_offset) const {
  for (const Segment& s : segments_) {
    if (file_offset >= s.file_offset && file_offset < s.file_offset + s.file_size)
      return file_offset - s.file_offset + s.vaddr;
  }
  return file_offset;
}

std::optional<ElfSymbol> ElfSymbols::lookup(uint64_t vaddr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                             [](uint64_t a, const Symbol& s) { return a < s.start; });
  // The nearest symbol below, or, when it has a size that ends before
  // `vaddr`, one a little further down that encloses it (a small local label
  // inside a large function). Four steps back is plenty for real binaries.
  for (int step = 0; step < 4 && it != symbols_.begin(); ++step) {
    const Symbol& s = *--it;
    bool covers = s.size == 0 ? step == 0 : vaddr - s.start < s.size;
    if (covers) return ElfSymbol{std::string_view(names_.c_str() + s.name_at), s.start, s.size};
  }
  return std::nullopt;
}

size_t ElfSymbols::memory_bytes() const {
  return sizeof(*this) + symbols_.capacity() * sizeof(Symbol) + names_.capacity() +
         segments_.capacity() * sizeof(Segment) + build_id_.capacity();
}

std::string demangle(std::string_view name) {
  if (!name.starts_with("_Z")) return std::string(name);
  std::string mangled(name);
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || !out) return mangled;
  return std::string(out.get());
}

}  // namespace ksight::profile
