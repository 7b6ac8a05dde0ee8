# modeld: `make` builds build/modeld; `make test` builds and runs every test; `make run` starts it.
# `make install` copies build/modeld to $(PREFIX)/bin (default /usr/local/bin; DESTDIR stages it),
# building it first if it is missing. `make tsa` builds everything with clang's thread-safety
# analysis as errors (docs/threads.md).
# `make asan` / `make tsan` build and run every test under sanitizers (build-asan, build-tsan);
# `make fuzz` builds and runs the libFuzzer targets (build-fuzz; fuzz/README.md).
BUILD ?= build
TSA_BUILD ?= build-tsa
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

.PHONY: all deps configure build test tsa run bench format format-check clean asan tsan fuzz install uninstall

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

configure: $(BUILD)/build.ninja

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300

# Its own build dir, configured once: clang, -Werror=thread-safety, no optimisation and no
# debug info (only the diagnostics matter); ccache (CMakeLists.txt) keeps a rebuild cheap.
# The self-test first proves the analysis sees the annotations at all.
$(TSA_BUILD)/build.ninja: | deps
	CC=clang CXX=clang++ cmake -S . -B $(TSA_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=None \
	  "-DCMAKE_CXX_FLAGS=-Wthread-safety -Werror=thread-safety"

tsa: deps $(TSA_BUILD)/build.ninja
	@scripts/tsa-selftest.sh
	cmake --build $(TSA_BUILD) -j $(JOBS)

run: build
	$(BUILD)/modeld serve

# Not `install: build`: `sudo make install` after `make` must not build (or apt-get) as root.
install:
	@test -x $(BUILD)/modeld || $(MAKE) build
	install -D -m 0755 $(BUILD)/modeld $(DESTDIR)$(PREFIX)/bin/modeld

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/modeld

bench: build
	@scripts/install-deps.sh --bench
	bench/run.sh

# Sanitizer builds use clang (its UBSan also checks float-to-int conversions) at -O1, with
# line tables only (all a report's stack needs; -g's full debug info makes 150 MB test
# binaries that take long to link), linked with lld when installed, and without bench/
# (speed tools: nothing to check there). Reports are fatal (scripts/sanitizers/run-tests.sh).
# CTEST_ARGS go to ctest: make tsan CTEST_ARGS='-R Journal' or CTEST_ARGS='-E Sse'.
SAN_LINKER = $(if $(shell command -v ld.lld),-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
SAN_CMAKE = cmake -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DMODELD_BUILD_BENCH=OFF $(SAN_LINKER)

# The ASan tree also holds the fuzz targets (MODELD_FUZZ: coverage instrumentation, which
# the tests run with too) and makes clang's thread-safety analysis an error, so one clang
# build checks all three (.ci/run: make asan, then make fuzz FUZZ_BUILD=build-asan).
build-asan/build.ninja: | deps
	$(SAN_CMAKE) -S . -B build-asan -DMODELD_SANITIZE=address,undefined -DMODELD_FUZZ=ON \
	  "-DCMAKE_CXX_FLAGS=-Wthread-safety -Werror=thread-safety"

build-tsan/build.ninja: | deps
	$(SAN_CMAKE) -S . -B build-tsan -DMODELD_SANITIZE=thread

asan: deps build-asan/build.ninja
	@scripts/tsa-selftest.sh
	cmake --build build-asan -j $(JOBS)
	JOBS=$(JOBS) scripts/sanitizers/run-tests.sh build-asan asan $(CTEST_ARGS)

tsan: deps build-tsan/build.ninja
	cmake --build build-tsan -j $(JOBS)
	JOBS=$(JOBS) scripts/sanitizers/run-tests.sh build-tsan tsan $(CTEST_ARGS)

# FUZZ_SECONDS per target (default 60), FUZZ_RUNS, FUZZ_TARGETS, FUZZ_MERGE: see fuzz/run.sh.
fuzz: deps
	JOBS=$(JOBS) fuzz/run.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(TSA_BUILD) build-asan build-tsan build-fuzz
