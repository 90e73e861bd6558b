# The two commands of the README's Quick start, and a few more for developers.
#   make run    install what is missing, build, start the daemon on the embedded default
#   make test   the same set-up, then the whole suite (unit + BPF integration)
#   make release-check   the packagers' builds: Release, and Debian's hardening flags
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
RUN_ARGS ?=

.PHONY: all setup configure build run test unit-test bench bench-probes format clean release-check

all: build

setup:
	@scripts/setup

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DKSIGHT_WERROR=ON >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/ksight run $(RUN_ARGS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout 300

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
	rm -rf $(BUILD_DIR)
