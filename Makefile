# tsraft — the two commands the README promises: `make run` and `make test`.
# Both install and build on their own, on a machine with only Node 20 and npm.

NODE ?= node
NPM ?= npm
DATA ?= ./data
PORT ?= 8080
NODES ?= 3

.PHONY: all install build run test lint sim sim-soak bench bench-quick bench-peers clean

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

test: build lint
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
