# despatch: `make run` and `make test` are the two commands of README.md.
# Meson + Ninja do the work; this file only names the build folders.
#   build/       optimised build, what `make run` and `make bench` use
#   build-san/   AddressSanitizer + UndefinedBehaviorSanitizer, for tests
#   build-fuzz/  clang + libFuzzer targets

PY      := /usr/bin/python3
BUILD   := build
SAN     := build-san
FUZZ    := build-fuzz
DATA    := var
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-san run test unit integration fuzz bench clean format

all: build

deps:
	@./scripts/deps.sh

build: deps
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=debugoptimized >/dev/null
	ninja -C $(BUILD)

build-san: deps
	@[ -f $(SAN)/build.ninja ] || meson setup $(SAN) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false --werror -Dtests=enabled >/dev/null
	ninja -C $(SAN)

run: build
	@if [ ! -d $(DATA) ]; then \
	    $(BUILD)/despatch init --data $(DATA) --domain example.test \
	        --hostname localhost --listen 127.0.0.1 --port-offset 10000 && \
	    $(BUILD)/despatch user add demo@example.test --data $(DATA); \
	fi
	exec $(BUILD)/despatch serve --data $(DATA)

test: build-san
	@scripts/check-layers.sh
	$(MAKE) unit integration

unit: build-san
	meson test -C $(SAN) --suite unit --print-errorlogs

integration: build-san
	DESPATCH_BIN=$(abspath $(SAN))/despatch $(PY) -m pytest -q -p no:cacheprovider tests/integration

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
	rm -rf $(BUILD) $(SAN) $(FUZZ)
