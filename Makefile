# HyperQuest developer commands. `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch is installed first and pinned, so nothing later can pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0

HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install browser run test bench calibrate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

## Debian's Chromium for the browser tests (Playwright's own browser download is not used).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## Install, then start the game in embedded mode (SQLite file, in-process runner) on http://$(HOST):$(PORT).
run: install
	$(BIN)/hyperquest serve --host $(HOST) --port $(PORT)

## Install, then run the whole test suite.
test: install browser
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/hyperquest bench

calibrate: install
	$(BIN)/hyperquest calibrate

clean:
	rm -rf $(VENV) .pytest_cache
