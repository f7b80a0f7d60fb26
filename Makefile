# The front door. Every target installs what it needs (scripts/setup.sh is
# silent when everything is present), configures and builds.
#
#   make run        bulwark + the demo upstream with examples/quickstart.yaml
#   make test       build and run every test (unit + integration)
#   make build      Release build, binaries in build/bin/
#   make sanitize   ASan+UBSan build running the whole test suite
#   make tsan       ThreadSanitizer build running the multi-threaded core tests
#   make bench      Google Benchmark for src/core
#   make bench-proxy  wrk against bulwark and nginx (bench/proxy.sh)

JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: setup build test sanitize tsan bench bench-proxy run format clean

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build build -j $(JOBS)

test: build
	@ctest --test-dir build --output-on-failure -j $(JOBS) --timeout 300

sanitize: setup
	@cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBULWARK_SANITIZE=ON -DBULWARK_BENCH=OFF >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS) --timeout 600

tsan: setup
	@cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBULWARK_TSAN=ON -DBULWARK_BENCH=OFF >/dev/null
	@cmake --build build-tsan -j $(JOBS) --target unit_core
	@TSAN_OPTIONS=halt_on_error=1 build-tsan/bin/unit_core

bench: build
	@build/bin/bench_core --benchmark_min_time=0.5

bench-proxy: build
	@bench/proxy.sh

run: build
	@scripts/run.sh

format:
	@clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	@rm -rf build build-asan build-tsan
