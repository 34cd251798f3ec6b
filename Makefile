# Lintel — the two commands that do all the set-up on a fresh Debian 12 machine:
#   make demo   install dependencies, build, start the demo, print the curl lines to try
#   make test   install dependencies, build, run every test (non-zero exit on failure)
# Other targets: make build (release binary at build/lintel), make setup, make bench, make clean.

BUILD_DIR ?= build
JOBS ?= $(shell nproc)
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

.PHONY: all setup configure build test unit integration demo bench clean format

all: build

setup:
	@scripts/setup.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

configure: setup $(BUILD_DIR)/CMakeCache.txt

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 900

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L integration

demo: build
	@scripts/demo.sh

bench: build
	@scripts/setup.sh --bench
	@bench/run.sh

clean:
	rm -rf $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files '*.h' '*.cpp')
