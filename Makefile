# tsraft — the two commands the README promises: `make run` and `make test`.
# Both install and build on their own, on a machine with only Node 20 and npm.

NODE ?= node
NPM ?= npm
DATA ?= ./data
PORT ?= 8080
NODES ?= 3

.PHONY: all install build run test test-tools lint sim sim-soak bench bench-quick bench-peers clean

all: build

node_modules/.install-stamp: package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	@touch $@

install: node_modules/.install-stamp

build: install
	$(NODE) node_modules/typescript/bin/tsc -p tsconfig.json

run: build
	$(NODE) dist/src/cli/main.js dev --nodes $(NODES) --data $(DATA) --port $(PORT)

lint: install
	$(NODE) scripts/lint.mjs

# Tools some tests use, from Debian's packages (a browser is never downloaded):
# promtool (package prometheus) checks /metrics, the alert rules and the
# dashboard's PromQL; chromium runs the web console test. Installed only when
# missing and apt-get exists; if that fails, `make test` goes on and those
# checks fail, saying which tool is missing and how to install it
# (test/required-tool.ts).
test-tools:
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo -n"; \
	    echo "make: installing$$missing with apt-get"; \
	    ($$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "make: could not install$$missing; the checks that need it will be skipped (and fail under CI=true)"; \
	  else \
	    echo "make: apt-get not found; install$$missing by hand, or the checks that need it will be skipped (and fail under CI=true)"; \
	  fi; \
	fi

test: build lint test-tools
	$(NODE) scripts/run-tests.mjs

sim: build
	$(NODE) dist/sim/cli.js --seeds 1-300 --faults all

sim-soak: build
	$(NODE) dist/sim/cli.js --seeds 1-10000 --faults all

bench: build
	$(NODE) dist/bench/run.js --all

bench-quick: build
	$(NODE) dist/bench/run.js --quick

bench-peers: build
	bash bench/peers/setup.sh
	$(NODE) dist/bench/run.js --peers

clean:
	rm -rf dist node_modules .vitest-results.json
