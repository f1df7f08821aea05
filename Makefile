# HyperQuest developer commands. `make run` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch is installed first and pinned, so nothing later can pull a CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install run test bench calibrate clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

## Install, then play a scripted game in embedded mode (the browser game arrives with `hyperquest serve`).
run: install
	$(BIN)/hyperquest train --dataset shapes:1 --width 64 --depth 4 --lr 0.01 \
		--actions "continue,continue:lr=up,continue:width=up,continue:depth=up,continue,revert,continue:lr=down,done"

## Install, then run the whole test suite.
test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/hyperquest bench

calibrate: install
	$(BIN)/hyperquest calibrate

clean:
	rm -rf $(VENV) .pytest_cache
