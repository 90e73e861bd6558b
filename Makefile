# The two commands of the README's Quick start, and a few more for developers.
#   make run    install what is missing, build, start the daemon on the embedded default
#   make test   the same set-up, then the whole suite (unit + BPF integration)
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
RUN_ARGS ?=

.PHONY: all setup configure build run test unit-test kernel-matrix bench bench-probes format clean

all: build

setup:
	@scripts/setup

configure: setup
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/ksight run $(RUN_ARGS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure --timeout 300

# Every probe on the kernels nodes run (tests/kernel-matrix/kernels.txt:
# Debian's 5.10, 6.1, 6.1-rt, 6.12), each booted under QEMU with this build
# inside (root, ~6 minutes on 2 cores): the table of docs/kernels.md.
MATRIX_ARGS ?=
kernel-matrix: build
	scripts/kernel-matrix $(MATRIX_ARGS)

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

clean:
	rm -rf $(BUILD_DIR)
