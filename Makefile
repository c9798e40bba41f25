# despatch: `make run` and `make test` are the two commands of README.md.
# Meson + Ninja do the work; this file only names the build folders.
#   build/       optimised build, what `make run` and `make bench` use
#   build-san/   gcc, AddressSanitizer + UndefinedBehaviorSanitizer: unit and
#                integration tests
#   build-clang/ clang, AddressSanitizer + UndefinedBehaviorSanitizer: the second
#                configuration of `make test` (unit tests, and every fuzz target
#                run briefly)
#   build-fuzz/  clang, optimised libFuzzer targets for long `make fuzz` runs

PY      := /usr/bin/python3
BUILD   := build
SAN     := build-san
CLANG   := build-clang
FUZZ    := build-fuzz
DATA    := var
ROOT_DATA := /var/lib/despatch
# `make fuzz`: seconds per target; `make test`: the brief run of each.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 20
# pytest-xdist workers of `make integration`.
TEST_WORKERS ?= 2

.PHONY: all deps build build-san build-clang run test unit unit-clang fuzz-smoke \
	integration fuzz bench clean format

all: build

deps:
	@./scripts/deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=debugoptimized >/dev/null
	ninja -C $(BUILD)

# test_hooks: the fault injection of the store's I/O layer (docs/security.md).
# A build-san set up before the option existed gets it turned on.
build-san: deps
	@if [ ! -f $(SAN)/build.ninja ]; then meson setup $(SAN) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false --werror -Dtests=enabled \
	    -Dtest_hooks=true >/dev/null; \
	elif ! grep -q DESPATCH_TEST_HOOKS $(SAN)/build.ninja; then \
	    meson configure $(SAN) -Dtest_hooks=true >/dev/null; fi
	ninja -C $(SAN)

build-clang: deps
	@[ -f $(CLANG)/build.ninja ] || CC=clang meson setup $(CLANG) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false --werror -Dtests=enabled \
	    -Dfuzz=true >/dev/null
	ninja -C $(CLANG)

# As root, serve runs as the user `despatch`, which must reach the data dir:
# a clone under /root (mode 0700) is out of its reach, so root's data dir is
# $(ROOT_DATA) and ./var a symbolic link to it.
run: build
	@if [ ! -e $(DATA) ]; then \
	    dir=$(DATA); \
	    if [ "$$(id -u)" -eq 0 ]; then dir=$(ROOT_DATA); fi; \
	    if [ ! -d "$$dir" ]; then \
	        $(BUILD)/despatch init --data "$$dir" --domain example.test \
	            --hostname localhost --listen 127.0.0.1 --port-offset 10000 && \
	        $(BUILD)/despatch user add demo@example.test --data "$$dir"; \
	    fi && \
	    if [ "$$dir" != $(DATA) ]; then ln -s "$$dir" $(DATA); fi; \
	fi
	exec $(BUILD)/despatch serve --data $(DATA)

test: build-san build-clang
	@scripts/check-layers.sh
	$(MAKE) unit unit-clang fuzz-smoke integration

unit: build-san
	meson test -C $(SAN) --suite unit --print-errorlogs

unit-clang: build-clang
	meson test -C $(CLANG) --suite unit --print-errorlogs

# Every fuzz target briefly (crash-* seeds are replayed first), two at a
# time: each is single-threaded and the machine has 2 cores.
fuzz-smoke: build-clang
	FUZZ_JOBS=2 scripts/fuzz.sh $(CLANG) $(FUZZ_SMOKE_SECONDS)

# The integration tests mostly wait on servers and clients, not on the CPU:
# two pytest-xdist workers halve the wall time on 2 cores.
integration: build-san
	DESPATCH_BIN=$(abspath $(SAN))/despatch $(PY) -m pytest -q -p no:cacheprovider \
	    -n $(TEST_WORKERS) tests/integration

fuzz: deps
	@[ -f $(FUZZ)/build.ninja ] || CC=clang meson setup $(FUZZ) --buildtype=debugoptimized \
	    -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	ninja -C $(FUZZ)
	scripts/fuzz.sh $(FUZZ) $(FUZZ_SECONDS)

bench: build
	bench/smtp-ingest/run.sh $(abspath $(BUILD))/despatch
	bench/imap/run.sh $(abspath $(BUILD))/despatch
	bench/smtp-relay/run.sh $(abspath $(BUILD))/despatch

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h')

clean:
	rm -rf $(BUILD) $(SAN) $(CLANG) $(FUZZ)
