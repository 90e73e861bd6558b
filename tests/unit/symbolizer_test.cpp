// The stack symbolizer against real processes (tests/support/symbol_target),
// the running kernel's kallsyms, and kallsyms/maps texts written here.
#include "profile/symbolizer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "profile/elf_symbols.h"
#include "profile/kernel_symbols.h"
#include "profile/process_maps.h"

extern char** environ;

namespace ksight::profile {
namespace {

// A running symbol_target and the addresses of functions it printed.
class Target {
 public:
  explicit Target(const std::string& path) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
    if (posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    FILE* lines = ::fdopen(out[0], "r");
    char line[512];
    while (lines != nullptr && std::fgets(line, sizeof(line), lines) != nullptr) {
      std::string text(line);
      if (text == "ready\n") break;
      size_t space = text.rfind(' ');
      addresses_[text.substr(0, space)] = std::stoull(text.substr(space + 1), nullptr, 16);
    }
    if (lines != nullptr) std::fclose(lines);
  }
  ~Target() { stop(); }

  void stop() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  uint32_t pid() const { return static_cast<uint32_t>(pid_); }
  const std::map<std::string, uint64_t>& addresses() const { return addresses_; }
  uint64_t address(const std::string& name) const { return addresses_.at(name); }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::map<std::string, uint64_t> addresses_;
};

std::string canonical(const char* path) {
  return std::filesystem::canonical(path).string();
}

// The functions symbol_target prints, and the file each one is in.
std::map<std::string, std::string> expected_modules(const char* executable) {
  return {{"symbol_target_main_function", canonical(executable)},
          {"ksight_test::Widget::spin(int)", canonical(executable)},
          {"symbol_target_lib_function", canonical(KSIGHT_SYMBOL_TARGET_LIB)},
          {"ksight_test::lib_namespaced(int)", canonical(KSIGHT_SYMBOL_TARGET_LIB)}};
}

void expect_names(Symbolizer& symbolizer, const Target& target, const char* executable) {
  for (const auto& [name, module] : expected_modules(executable)) {
    SCOPED_TRACE(name);
    uint64_t start = target.address(name);
    const uint64_t ips[] = {start, start + 5};
    std::vector<Frame> frames = symbolizer.symbolize_user(target.pid(), ips);
    ASSERT_EQ(frames.size(), 2u);
    for (const Frame& f : frames) {
      EXPECT_EQ(f.function, name);
      EXPECT_EQ(f.module, module);
      EXPECT_EQ(f.build_id.size(), 40u) << f.build_id;  // SHA-1, as ld --build-id makes it
      EXPECT_FALSE(f.kernel);
    }
    EXPECT_EQ(frames[0].address, start);
    EXPECT_EQ(frames[1].address, start + 5);
    EXPECT_EQ(frames[1].module_offset, frames[0].module_offset + 5);
  }
}

TEST(Symbolizer, NamesFunctionsOfPieAndNonPieExecutablesAndTheirLibrary) {
  for (const char* executable : {KSIGHT_SYMBOL_TARGET_PIE, KSIGHT_SYMBOL_TARGET_NOPIE}) {
    SCOPED_TRACE(executable);
    Target target(executable);
    ASSERT_EQ(target.addresses().size(), 4u);
    Symbolizer symbolizer;
    ASSERT_TRUE(symbolizer.remember_process(target.pid()));
    expect_names(symbolizer, target, executable);
  }
}

TEST(Symbolizer, ModuleOffsetIsTheElfVirtualAddress) {
  // Non-PIE: loaded where linked, so the virtual address is the address.
  Target fixed(KSIGHT_SYMBOL_TARGET_NOPIE);
  // PIE: loaded at a random base; the same function has the same virtual
  // address in both builds only by accident, but it is far below the address.
  Target pie(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer symbolizer;
  const uint64_t fixed_ip[] = {fixed.address("symbol_target_main_function")};
  EXPECT_EQ(symbolizer.symbolize_user(fixed.pid(), fixed_ip)[0].module_offset, fixed_ip[0]);
  const uint64_t pie_ip[] = {pie.address("symbol_target_main_function")};
  Frame pie_frame = symbolizer.symbolize_user(pie.pid(), pie_ip)[0];
  EXPECT_LT(pie_frame.module_offset, 0x100000u);
  EXPECT_NE(pie_frame.module_offset, pie_ip[0]);
}

TEST(Symbolizer, RememberedProcessKeepsItsNamesAfterItExits) {
  Target target(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer symbolizer;
  ASSERT_TRUE(symbolizer.remember_process(target.pid()));
  uint32_t pid = target.pid();
  target.stop();
  ASSERT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));

  RawStack raw;
  raw.pid = pid;
  raw.cgroup_id = 77;
  raw.comm = "symbol-target";
  raw.count = 3;
  raw.value_ns = 30'000'000;
  // Leaf first: the leaf inside the library, its caller in the executable
  // (return addresses point past the call, hence + 9).
  raw.user_ips = {target.address("symbol_target_lib_function") + 5,
                  target.address("ksight_test::Widget::spin(int)") + 9};
  Sample sample = symbolizer.symbolize(raw);
  ASSERT_EQ(sample.frames.size(), 2u);
  EXPECT_EQ(sample.frames[0].function, "symbol_target_lib_function");
  EXPECT_EQ(sample.frames[1].function, "ksight_test::Widget::spin(int)");
  EXPECT_EQ(sample.pid, pid);
  EXPECT_EQ(sample.cgroup_id, 77u);
  EXPECT_EQ(sample.comm, "symbol-target");
  EXPECT_EQ(sample.count, 3u);
  EXPECT_EQ(sample.value_ns, 30'000'000u);
  EXPECT_EQ(symbolizer.stats().processes_not_found, 0u);
}

TEST(Symbolizer, PidNeverRememberedIsReadFromProcWhenSymbolized) {
  Target target(KSIGHT_SYMBOL_TARGET_NOPIE);
  Symbolizer symbolizer;
  const uint64_t ips[] = {target.address("symbol_target_main_function") + 5};
  EXPECT_EQ(symbolizer.symbolize_user(target.pid(), ips)[0].function,
            "symbol_target_main_function");
  EXPECT_EQ(symbolizer.stats().process_misses, 1u);
  symbolizer.symbolize_user(target.pid(), ips);
  EXPECT_EQ(symbolizer.stats().process_hits, 1u);

  uint32_t pid = target.pid();
  target.stop();
  symbolizer.forget_process(pid);
  Frame gone = symbolizer.symbolize_user(pid, ips)[0];
  EXPECT_EQ(gone.module, kUnknownModule);
  EXPECT_EQ(gone.module_offset, ips[0]);
  EXPECT_EQ(symbolizer.stats().processes_not_found, 1u);
}

TEST(Symbolizer, AddressInNoMappingIsUnknownWithItsAddress) {
  Target target(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer symbolizer;
  ASSERT_TRUE(symbolizer.remember_process(target.pid()));
  const uint64_t ips[] = {0x10};
  Frame f = symbolizer.symbolize_user(target.pid(), ips)[0];
  EXPECT_EQ(f.module, kUnknownModule);
  EXPECT_EQ(f.function, "");
  EXPECT_EQ(f.address, 0x10u);
  EXPECT_EQ(f.module_offset, 0x10u);
  EXPECT_EQ(symbolizer.stats().frames_unknown, 1u);
  // Remembered under a second ago: its mappings are not re-read for it.
  EXPECT_EQ(symbolizer.stats().maps_refreshes, 0u);
}

TEST(Symbolizer, AddressInNoMappingRereadsTheMappingsOfALiveProcessOncePerCall) {
  Target target(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer::Options options;
  options.maps_refresh_interval = std::chrono::milliseconds(0);
  Symbolizer symbolizer(options);
  ASSERT_TRUE(symbolizer.remember_process(target.pid()));
  const uint64_t ips[] = {0x10, 0x20, target.address("symbol_target_main_function")};
  std::vector<Frame> frames = symbolizer.symbolize_user(target.pid(), ips);
  EXPECT_EQ(frames[0].module, kUnknownModule);
  EXPECT_EQ(frames[1].module, kUnknownModule);
  EXPECT_EQ(frames[2].function, "symbol_target_main_function");
  EXPECT_EQ(symbolizer.stats().maps_refreshes, 1u);
}

TEST(Symbolizer, RememberAndSymbolizeFromTwoThreads) {
  Target target(KSIGHT_SYMBOL_TARGET_NOPIE);
  Symbolizer symbolizer;
  ASSERT_TRUE(symbolizer.remember_process(target.pid()));
  std::thread dispatcher([&] {
    for (int i = 0; i < 100; ++i) symbolizer.remember_process(target.pid());
  });
  const uint64_t ips[] = {target.address("symbol_target_lib_function") + 5};
  int named = 0;
  for (int i = 0; i < 100; ++i)
    named +=
        symbolizer.symbolize_user(target.pid(), ips)[0].function == "symbol_target_lib_function";
  dispatcher.join();
  EXPECT_EQ(named, 100);
  EXPECT_EQ(symbolizer.stats().processes_remembered, 101u);
}

TEST(Symbolizer, SharedLibraryIsParsedOnceForEveryProcess) {
  Target pie(KSIGHT_SYMBOL_TARGET_PIE);
  Target fixed(KSIGHT_SYMBOL_TARGET_NOPIE);
  Symbolizer symbolizer;
  ASSERT_TRUE(symbolizer.remember_process(pie.pid()));
  Symbolizer::Stats first = symbolizer.stats();
  ASSERT_TRUE(symbolizer.remember_process(fixed.pid()));
  Symbolizer::Stats second = symbolizer.stats();
  // Only the other executable is new; the library, libc, libstdc++ and the
  // dynamic loader come from the cache.
  EXPECT_EQ(second.file_misses - first.file_misses, 1u);
  EXPECT_GE(second.file_hits - first.file_hits, 3u);
  EXPECT_EQ(second.files_cached, first.files_cached + 1);
  EXPECT_GT(second.file_cache_bytes, 0u);
}

TEST(Symbolizer, ProcessCacheEvictsTheLeastRecentlyUsed) {
  Target oldest(KSIGHT_SYMBOL_TARGET_PIE);
  Target middle(KSIGHT_SYMBOL_TARGET_PIE);
  Target newest(KSIGHT_SYMBOL_TARGET_NOPIE);
  Symbolizer::Options options;
  options.max_processes = 2;
  Symbolizer symbolizer(options);
  ASSERT_TRUE(symbolizer.remember_process(oldest.pid()));
  ASSERT_TRUE(symbolizer.remember_process(middle.pid()));
  ASSERT_TRUE(symbolizer.remember_process(newest.pid()));
  EXPECT_EQ(symbolizer.stats().processes_cached, 2u);
  EXPECT_EQ(symbolizer.stats().process_evictions, 1u);

  // Evicted and exited: nothing is left to name its frames.
  uint32_t oldest_pid = oldest.pid();
  oldest.stop();
  const uint64_t ips[] = {oldest.address("symbol_target_main_function")};
  EXPECT_EQ(symbolizer.symbolize_user(oldest_pid, ips)[0].module, kUnknownModule);
  // Still cached, though exited.
  uint32_t middle_pid = middle.pid();
  middle.stop();
  const uint64_t middle_ips[] = {middle.address("symbol_target_main_function")};
  EXPECT_EQ(symbolizer.symbolize_user(middle_pid, middle_ips)[0].function,
            "symbol_target_main_function");
}

TEST(Symbolizer, FileCacheBoundLeavesRememberedProcessesTheirSymbols) {
  Target target(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer::Options options;
  options.max_files = 1;
  Symbolizer symbolizer(options);
  ASSERT_TRUE(symbolizer.remember_process(target.pid()));
  EXPECT_EQ(symbolizer.stats().files_cached, 1u);
  EXPECT_GE(symbolizer.stats().file_evictions, 3u);  // exe, lib, libc, libstdc++, ld.so
  expect_names(symbolizer, target, KSIGHT_SYMBOL_TARGET_PIE);
}

TEST(ElfSymbols, StrippedLibraryIsNamedFromItsDynamicSymbols) {
  Target target(KSIGHT_SYMBOL_TARGET_PIE);
  Symbolizer symbolizer;
  const uint64_t ips[] = {target.address("symbol_target_lib_function") + 5};
  uint64_t vaddr = symbolizer.symbolize_user(target.pid(), ips)[0].module_offset;

  for (const char* path : {KSIGHT_SYMBOL_TARGET_LIB, KSIGHT_SYMBOL_TARGET_LIB_STRIPPED}) {
    SCOPED_TRACE(path);
    std::ifstream probe(path);
    ASSERT_TRUE(probe.good());
    FILE* file = std::fopen(path, "rb");
    ASSERT_NE(file, nullptr);
    auto elf = ElfSymbols::parse(::fileno(file));
    std::fclose(file);
    ASSERT_TRUE(elf.has_value()) << elf.error();
    auto sym = (*elf)->lookup(vaddr);
    ASSERT_TRUE(sym.has_value());
    EXPECT_EQ(sym->name, "symbol_target_lib_function");
    EXPECT_EQ(sym->start + 5, vaddr);
    EXPECT_EQ((*elf)->build_id().size(), 40u);
  }
}

TEST(ElfSymbols, NotElfIsAnError) {
  FILE* file = std::fopen("/proc/self/status", "rb");
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(ElfSymbols::parse(::fileno(file)).has_value());
  std::fclose(file);
}

TEST(ElfSymbols, DemanglesCxxNamesOnly) {
  EXPECT_EQ(demangle("_ZN11ksight_test6Widget4spinEi"), "ksight_test::Widget::spin(int)");
  EXPECT_EQ(demangle("memcpy"), "memcpy");
  EXPECT_EQ(demangle("_Znot_valid"), "_Znot_valid");
}

TEST(ProcessMaps, KeepsExecutableMappingsAndNamesTheirKinds) {
  std::istringstream maps(
      "7f0000002000-7f0000003000 r-xp 00001000 fe:01 42    /usr/lib/libx.so (deleted)\n"
      "55d000000000-55d000001000 r--p 00000000 fe:01 7     /usr/bin/app\n"
      "55d000001000-55d000005000 r-xp 00001000 fe:01 7     /usr/bin/app\n"
      "7f0000000000-7f0000001000 rwxp 00000000 00:00 0 \n"
      "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0     [vdso]\n"
      "garbage\n");
  std::vector<Mapping> m = parse_executable_mappings(maps);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].path, "/usr/bin/app");
  EXPECT_EQ(m[0].kind, MappingKind::file);
  EXPECT_EQ(m[0].start, 0x55d000001000u);
  EXPECT_EQ(m[0].end, 0x55d000005000u);
  EXPECT_EQ(m[0].offset, 0x1000u);
  EXPECT_EQ(m[0].inode, 7u);
  EXPECT_EQ(m[1].kind, MappingKind::anonymous);
  EXPECT_EQ(m[1].path, "");
  EXPECT_EQ(m[2].path, "/usr/lib/libx.so");
  EXPECT_TRUE(m[2].deleted);
  EXPECT_EQ(m[3].kind, MappingKind::special);
  EXPECT_EQ(m[3].path, "[vdso]");
}

TEST(Symbolizer, VdsoFrameNamesTheVdso) {
  Symbolizer symbolizer;
  std::ifstream self("/proc/self/maps");
  auto maps = parse_executable_mappings(self);
  auto vdso =
      std::find_if(maps.begin(), maps.end(), [](const Mapping& m) { return m.path == "[vdso]"; });
  if (vdso == maps.end()) GTEST_SKIP() << "no vdso mapped";
  const uint64_t ips[] = {vdso->start + 0x10};
  Frame f = symbolizer.symbolize_user(static_cast<uint32_t>(::getpid()), ips)[0];
  EXPECT_EQ(f.module, "[vdso]");
  EXPECT_EQ(f.module_offset, 0x10u);
}

// A temporary file holding `text`, removed with the object.
class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/ksight-symbolizer-XXXXXX";
    int fd = ::mkstemp(name);
    if (fd >= 0) ::close(fd);
    path_ = name;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  // Rewritten in place: the symbolizer's open descriptor sees the new text.
  void write(const std::string& text) const { std::ofstream(path_, std::ios::trunc) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(KernelSymbols, NamesTheModuleOfModuleSymbols) {
  std::istringstream kallsyms(
      "ffffffff81000000 T _stext\n"
      "ffffffff81001000 T do_sys_openat2\n"
      "ffffffff81002000 D some_data\n"
      "ffffffffc0a01000 t nft_do_chain\t[nf_tables]\n"
      "ffffffffc0a02000 T nft_register_expr\t[nf_tables]\n"
      "ffffffffc0b00000 t ext4_fill_super\t[ext4]\n");
  KernelSymbols syms = KernelSymbols::parse(kallsyms);
  EXPECT_EQ(syms.size(), 5u);
  auto core = syms.lookup(0xffffffff81001010);
  ASSERT_TRUE(core.has_value());
  EXPECT_EQ(core->name, "do_sys_openat2");
  EXPECT_EQ(core->module, "[kernel.kallsyms]");
  EXPECT_EQ(core->start, 0xffffffff81001000u);
  auto chain = syms.lookup(0xffffffffc0a01008);
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(chain->name, "nft_do_chain");
  EXPECT_EQ(chain->module, "[nf_tables]");
  EXPECT_EQ(syms.lookup(0xffffffffc0b00004)->module, "[ext4]");
  EXPECT_FALSE(syms.lookup(0xffffffff80000000).has_value());
  EXPECT_EQ(syms.function_of(0xffffffffc0a02001), "nft_register_expr");
}

TEST(Symbolizer, KernelAddressesHiddenByKptrRestrictKeepTheirAddress) {
  TempFile kallsyms, modules;
  kallsyms.write(
      "0000000000000000 T _stext\n"
      "0000000000000000 T do_sys_openat2\n"
      "0000000000000000 t nft_do_chain\t[nf_tables]\n");
  modules.write("nf_tables 335872 0 - Live 0x0000000000000000\n");
  Symbolizer::Options options;
  options.kallsyms_path = kallsyms.path();
  options.modules_path = modules.path();
  Symbolizer symbolizer(options);
  const uint64_t ips[] = {0xffffffff81001010, 0xffffffffc0a01008};
  std::vector<Frame> frames = symbolizer.symbolize_kernel(ips);
  ASSERT_EQ(frames.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(frames[i].function, "");
    EXPECT_EQ(frames[i].module, "[kernel.kallsyms]");
    EXPECT_EQ(frames[i].address, ips[i]);
    EXPECT_EQ(frames[i].module_offset, ips[i]);
    EXPECT_TRUE(frames[i].kernel);
  }
  EXPECT_EQ(symbolizer.stats().frames_unknown, 2u);
}

TEST(Symbolizer, KernelSymbolsAreReloadedWhenModulesChange) {
  TempFile kallsyms, modules;
  kallsyms.write(
      "ffffffff81000000 T _stext\n"
      "ffffffffc0a01000 t nft_do_chain\t[nf_tables]\n");
  modules.write("nf_tables 335872 0 - Live 0xffffffffc0a00000\n");
  Symbolizer::Options options;
  options.kallsyms_path = kallsyms.path();
  options.modules_path = modules.path();
  options.module_check_interval = std::chrono::milliseconds(0);
  Symbolizer symbolizer(options);
  const uint64_t ips[] = {0xffffffffc0a01008};
  EXPECT_EQ(symbolizer.symbolize_kernel(ips)[0].function, "nft_do_chain");

  // A module's reference count changes: no reload.
  modules.write("nf_tables 335872 4 - Live 0xffffffffc0a00000\n");
  kallsyms.write(
      "ffffffff81000000 T _stext\n"
      "ffffffffc0a01000 t xt_do_thing\t[x_tables]\n");
  EXPECT_EQ(symbolizer.symbolize_kernel(ips)[0].function, "nft_do_chain");
  EXPECT_EQ(symbolizer.stats().kernel_symbol_loads, 1u);

  // Another module in its place: reloaded.
  modules.write("x_tables 65536 0 - Live 0xffffffffc0a00000\n");
  Frame f = symbolizer.symbolize_kernel(ips)[0];
  EXPECT_EQ(f.function, "xt_do_thing");
  EXPECT_EQ(f.module, "[x_tables]");
  EXPECT_EQ(symbolizer.stats().kernel_symbol_loads, 2u);
}

TEST(Symbolizer, NamesAWellKnownSymbolOfTheRunningKernel) {
  std::ifstream in("/proc/kallsyms");
  std::string line;
  uint64_t address = 0;
  while (std::getline(in, line)) {
    if (line.ends_with(" T __x64_sys_getpid")) {
      address = std::stoull(line.substr(0, line.find(' ')), nullptr, 16);
      break;
    }
  }
  if (address == 0) GTEST_SKIP() << "kallsyms hides addresses (kptr_restrict) or has no getpid";
  Symbolizer symbolizer;
  const uint64_t ips[] = {address + 8};
  Frame f = symbolizer.symbolize_kernel(ips)[0];
  EXPECT_EQ(f.function, "__x64_sys_getpid");
  EXPECT_EQ(f.module, "[kernel.kallsyms]");
  EXPECT_TRUE(f.kernel);
  EXPECT_EQ(f.address, address + 8);
}

}  // namespace
}  // namespace ksight::profile
