# The two commands of the README's Quick start, and a few more for developers.
#   make run    install what is missing, build, start the daemon on the embedded default
#   make test   the same set-up, then the whole suite (unit + BPF integration)
#   make release-check   the packagers' builds: Release, and Debian's hardening flags
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
RUN_ARGS ?=

.PHONY: all setup configure build run test deb package unit-test kernel-matrix bench bench-probes format clean fuzz sanitize sanitize-run sanitize-build sanitize-suite-build fuzz-build tsan tsan-build release-check

all: build

setup:
	@scripts/setup

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DKSIGHT_WERROR=ON >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/ksight run $(RUN_ARGS)

# -j: the unit tests and the package's install test run beside the integration
# tests, which take one lock and so run one at a time (tests/CMakeLists.txt).
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout 300 -j $(JOBS)

# Every probe on the kernels nodes run (tests/kernel-matrix/kernels.txt:
# Debian's 5.10, 6.1, 6.1-rt, 6.12), each booted under QEMU with this build
# inside (root, ~6 minutes on 2 cores): the table of docs/kernels.md.
MATRIX_ARGS ?=
kernel-matrix: build
	scripts/kernel-matrix $(MATRIX_ARGS)

# The Debian package of this build, build/ksight_<version>-1_<arch>.deb
# (CPack; cmake/Package.cmake says what it holds, docs/deployment.md how it
# installs). `package` is the same, under CMake's name for it.
deb package: build
	cd $(BUILD_DIR) && cpack -G DEB

# The benchmark suite (root, ~15 minutes): writes docs/performance.md.
BENCH_ARGS ?=
bench: build
	@scripts/setup --bench
	python3 bench/run.py $(BENCH_ARGS)

# What each probe costs the work it watches (root, ~5 minutes): the tables in
# docs/probes.md.
bench-probes: build
	python3 bench/probe_overhead.py $(BENCH_ARGS)
	python3 bench/net_overhead.py

# What runs without root: the unit tests.
unit-test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L unit

# Builds share two cores with other work: every build takes this lock.
LOCK ?= flock /tmp/ksight-build.lock

# One clang build with ASan + UBSan (and the fuzzer's coverage hooks) in
# SAN_DIR serves both the sanitized suites and the libFuzzer targets. -O0 and
# line tables only: what sanitizer reports need; clang takes 2-3 times as long
# to compile the instrumented code at -O1 (docs/reliability.md). Long fuzzing
# runs want the speed of -O1 in a tree of their own:
#   make fuzz SAN_DIR=build-fuzz SAN_OPT=-O1 FUZZ_SECONDS=600
SAN_DIR ?= build-asan
SAN_OPT ?= -O0
SAN_CONFIGURE = $(LOCK) cmake -S . -B $(SAN_DIR) -DCMAKE_C_COMPILER=clang-16 \
  -DCMAKE_CXX_COMPILER=clang++-16 -DKSIGHT_FUZZ=ON -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_FLAGS='$(SAN_OPT) -gline-tables-only' -DCMAKE_CXX_FLAGS='$(SAN_OPT) -gline-tables-only' >/dev/null

# libFuzzer targets (tests/fuzz); each runs FUZZ_SECONDS from its seed corpus.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS = fuzz_config fuzz_decode fuzz_http fuzz_exporters
fuzz: setup
	@$(SAN_CONFIGURE)
	@$(LOCK) cmake --build $(SAN_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)
	FUZZ_BUILD_DIR=$(SAN_DIR) scripts/fuzz $(FUZZ_SECONDS)

# The unit and integration suites once under ASan + UBSan, in SAN_DIR.
# The deployment tests (label deploy: chart, image, package) check files, not
# our code's memory, and stay out. SANITIZE_EXCLUDE leaves more out (a ctest -E
# regex). The harness's deadlines are stretched 4 times (KSIGHT_TEST_TIME_SCALE);
# the counts the tests assert are not.
SANITIZE_EXCLUDE ?=
SAN_SUITE_TARGETS = ksight ksight-work ksight_unit_tests ksight_integration_tests
sanitize: setup
	@$(SAN_CONFIGURE)
	@$(LOCK) cmake --build $(SAN_DIR) -j $(JOBS) --target $(SAN_SUITE_TARGETS)
	@$(MAKE) --no-print-directory sanitize-run
# The unit tests run as one process (ctest would start the sanitized binary
# once per test: 185 starts, a minute of CI), the integration tests one by one.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1 \
	ASAN_SYMBOLIZER_PATH=$$(command -v llvm-symbolizer) KSIGHT_TEST_TIME_SCALE=4 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
sanitize-run:
	cd $(SAN_DIR)/tests && $(SAN_ENV) ./ksight_unit_tests --gtest_brief=1
	$(SAN_ENV) ctest --test-dir $(SAN_DIR) --output-on-failure --timeout 300 -L integration \
	  $(if $(SANITIZE_EXCLUDE),-E '$(SANITIZE_EXCLUDE)')
# Both sets at once; or each alone (CI builds what the ASan suite runs
# first, and the fuzzers beside that suite: .ci/run, scripts/ci-hardening).
sanitize-build: sanitize-suite-build fuzz-build
sanitize-suite-build: setup
	@$(SAN_CONFIGURE)
	@$(LOCK) cmake --build $(SAN_DIR) -j $(JOBS) --target $(SAN_SUITE_TARGETS)
fuzz-build: setup
	@[ -f $(SAN_DIR)/Makefile ] || $(SAN_CONFIGURE)
	@$(LOCK) cmake --build $(SAN_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)

# The tests whose code runs on several threads (batch queue, registry, HTTP
# server, OTLP sender, pod watcher: tests/CMakeLists.txt, ksight_thread_tests)
# under ThreadSanitizer, in build-tsan/.
tsan-build: setup
	@$(LOCK) cmake -S . -B build-tsan -DKSIGHT_TSAN=ON -DCMAKE_BUILD_TYPE=None \
	  -DCMAKE_CXX_FLAGS='-O1 -g1' -DCMAKE_C_FLAGS='-O1 -g1' >/dev/null
	@$(LOCK) cmake --build build-tsan -j $(JOBS) --target ksight_thread_tests
tsan: tsan-build
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 KSIGHT_TEST_TIME_SCALE=4 \
	  build-tsan/tests/ksight_thread_tests

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' | grep -vE '^(bpf|include/ksight/abi)/')

# The builds a packager makes, warnings as errors so a new one shows here first:
# Release (-O3), and RelWithDebInfo with Debian's hardening flags
# (dpkg-buildflags: -O2, _FORTIFY_SOURCE, stack protector, relro).
release-check: setup
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DKSIGHT_WERROR=ON >/dev/null
	cmake --build build-release -j $(JOBS)
	cmake -S . -B build-hardened -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKSIGHT_WERROR=ON \
	  -DCMAKE_CXX_FLAGS="$$(dpkg-buildflags --get CPPFLAGS) $$(dpkg-buildflags --get CXXFLAGS)" \
	  -DCMAKE_C_FLAGS="$$(dpkg-buildflags --get CPPFLAGS) $$(dpkg-buildflags --get CFLAGS)" \
	  -DCMAKE_EXE_LINKER_FLAGS="$$(dpkg-buildflags --get LDFLAGS)" >/dev/null
	cmake --build build-hardened -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR) build-asan build-fuzz build-tsan
