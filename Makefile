# bmlua — the two commands of the README, plus the benchmark.
#   make demo   install what is missing, build, run the demo on a throw-away repository
#   make test   install what is missing, build, run the tests
#   make bench  the hook-call and snapshot benchmarks (release build); with valgrind,
#               also the hook call's instructions, which do not drift with the machine

SWIFT      ?= swift
JOBS       ?= 2
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build test demo bench clean

# The system packages bmlua builds on: Lua 5.4, readline (the shell), pkg-config.
deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists lua5.4 readline; then \
		echo "make: installing liblua5.4-dev, libreadline-dev and pkg-config"; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y liblua5.4-dev libreadline-dev pkg-config; \
	fi

# SwiftPM does not rebuild Swift code when a system library's header changes,
# and code built against an old bmlua_Limits corrupts memory: so a newer
# header in Sources/CLua drops the objects of the modules that import it
# (their build folders stay: SwiftPM expects the files it planned there).
.build/shim.stamp: $(wildcard Sources/CLua/*.h)
	@mkdir -p .build
	@find .build -mindepth 4 -maxdepth 4 -path '*/*/*.build/*' \( -name '*.o' -o -name '*.swiftdeps' -o -name '*.priors' \) \
		\( -path '*/HookVM*' -o -path '*/BackupSys*' -o -path '*/bmlua*' \) -delete
	@touch $@

build: deps .build/shim.stamp
	$(SWIFT) build -j $(JOBS)

test: build
	$(SWIFT) test -j $(JOBS)

demo: build
	@bash scripts/demo.sh "$$($(SWIFT) build -j $(JOBS) --show-bin-path)/bmlua"

bench: deps .build/shim.stamp
	$(SWIFT) build -c release -j $(JOBS) --product bmlua-bench
	$(SWIFT) build -c release -j $(JOBS) --product bmlua
	"$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua-bench"
	@if command -v valgrind >/dev/null; then bash scripts/bench-instructions.sh "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua-bench"; fi
	bash scripts/bench-snapshot.sh "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua" 20000

clean:
	rm -rf .build
