# bmlua — the two commands of the README, plus the benchmark.
#   make demo   install what is missing, build, run the demo on a throw-away repository
#   make test   install what is missing, build, run the tests
#   make bench  the hook-call and snapshot benchmarks (release build); with valgrind,
#               also the hook call's instructions, which do not drift with the machine
#   make bench-compare  bmlua against cp, rsync, restic and borg on a 20,000-file tree
#               (installs the peers; ROUNDS=3); writes bench/results.json
#   make bench-scale  snapshots of 1,000,000 small files against rsync (FILES=100000 for a
#               few minutes); writes bench/scale-results.json
#   make install [PREFIX=/usr/local]  the release binary, bmlua(1) and completions; make uninstall

SWIFT      ?= swift
JOBS       ?= 2
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: deps build test demo bench bench-compare bench-scale clean install uninstall

# The system packages bmlua builds on: Lua 5.4, readline (the shell), SQLite
# (GRDB's, and its process settings), pkg-config.
deps:
	@if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists lua5.4 readline sqlite3; then \
		echo "make: installing liblua5.4-dev, libreadline-dev, libsqlite3-dev and pkg-config"; \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y liblua5.4-dev libreadline-dev libsqlite3-dev pkg-config; \
	fi


build: deps
	$(SWIFT) build -j $(JOBS)

test: build
	$(SWIFT) test -j $(JOBS)

demo: build
	@bash scripts/demo.sh "$$($(SWIFT) build -j $(JOBS) --show-bin-path)/bmlua"

bench: deps
	$(SWIFT) build -c release -j $(JOBS) --product bmlua-bench
	$(SWIFT) build -c release -j $(JOBS) --product bmlua
	"$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua-bench"
	@if command -v valgrind >/dev/null; then bash scripts/bench-instructions.sh "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua-bench"; fi
	bash scripts/bench-snapshot.sh "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua" 20000

bench-compare: deps
	$(SWIFT) build -c release -j $(JOBS) --product bmlua
	python3 bench/compare.py "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua" --rounds $${ROUNDS:-3}

bench-scale: deps
	$(SWIFT) build -c release -j $(JOBS) --product bmlua
	python3 bench/scale.py "$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua" --files $${FILES:-1000000}

# The release binary, bmlua(1) (made from the command definitions and
# docs/man/), and bash, zsh and fish completions, in their usual places.
install: deps
	$(SWIFT) build -c release -j $(JOBS) --product bmlua
	@bin="$$($(SWIFT) build -c release -j $(JOBS) --show-bin-path)/bmlua"; \
	set -e; \
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1" \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions" "$(DESTDIR)$(PREFIX)/share/zsh/site-functions" \
		"$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d"; \
	install -m 0755 "$$bin" "$(DESTDIR)$(PREFIX)/bin/bmlua"; \
	python3 scripts/man.py "$$bin" > "$(DESTDIR)$(PREFIX)/share/man/man1/bmlua.1"; \
	"$$bin" --generate-completion-script bash > "$(DESTDIR)$(PREFIX)/share/bash-completion/completions/bmlua"; \
	"$$bin" --generate-completion-script zsh > "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_bmlua"; \
	"$$bin" --generate-completion-script fish > "$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/bmlua.fish"; \
	echo "installed bmlua, bmlua(1) and completions under $(DESTDIR)$(PREFIX)"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/bmlua" "$(DESTDIR)$(PREFIX)/share/man/man1/bmlua.1" \
		"$(DESTDIR)$(PREFIX)/share/bash-completion/completions/bmlua" "$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_bmlua" \
		"$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/bmlua.fish"

clean:
	rm -rf .build
