# modeld: `make` builds build/modeld; `make test` builds and runs every test; `make run` starts it.
# `make fuzz` builds and runs the libFuzzer targets (build-fuzz; fuzz/README.md).
BUILD ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)

.PHONY: all deps configure build test run bench format clean fuzz

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

run: build
	$(BUILD)/modeld serve

bench: build
	@scripts/install-deps.sh --bench
	bench/run.sh

# FUZZ_SECONDS per target (default 60), FUZZ_RUNS, FUZZ_TARGETS, FUZZ_MERGE: see fuzz/run.sh.
fuzz: deps
	JOBS=$(JOBS) fuzz/run.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) build-fuzz
