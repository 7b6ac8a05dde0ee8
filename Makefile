# modeld: `make` builds build/modeld; `make test` builds and runs every test; `make run` starts it.
# `make install` copies build/modeld to $(PREFIX)/bin (default /usr/local/bin; DESTDIR stages it),
# building it first if it is missing. `make tsa` builds everything with clang's thread-safety
# analysis as errors (docs/threads.md).
BUILD ?= build
TSA_BUILD ?= build-tsa
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

.PHONY: all deps configure build test tsa run bench format format-check clean install uninstall

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

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(TSA_BUILD)
