# HyperQuest developer commands. `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch is installed first and pinned, so nothing later can pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser axe run check test bench calibrate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

## Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## axe-core, pinned in tests/a11y/package.json, for the accessibility browser tests (the tests inject it into
## the pages; the app never serves it). npm comes from Debian when it is missing.
AXE := tests/a11y/node_modules/axe-core/axe.min.js
$(AXE): tests/a11y/package.json
	@command -v npm >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm)
	npm install --prefix tests/a11y --no-audit --no-fund --no-package-lock --silent
	touch $@

axe: $(AXE)

## Install, then start the game in embedded mode (SQLite file, in-process runner) on http://$(HOST):$(PORT).
run: install
	$(BIN)/hyperquest serve --host $(HOST) --port $(PORT)

## Install, then the fast tier: lint, then every test not marked processes, browser, shipped or postgresql
## (see pyproject.toml): the SQLite run of each web test, on two workers. Each worker computes on one thread:
## two workers' torch thread pools on two cores otherwise fight over them (3.8 min instead of 2.7).
## The slowest tests are listed at the end.
FAST := not processes and not browser and not shipped and not postgresql
check: install
	$(BIN)/ruff check app engine worker bench tests
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "$(FAST)" -p xdist -n 2 --dist loadfile --durations=8

## Install, then run the whole test suite (every tier).
test: install browser axe
	$(BIN)/python -m pytest -q

## Speed figures (python -m bench: the engine and the latency around an epoch; see docs/benchmarks.md).
bench: install
	$(BIN)/python -m bench

calibrate: install
	$(BIN)/hyperquest calibrate

clean:
	rm -rf $(VENV) .pytest_cache tests/a11y/node_modules
