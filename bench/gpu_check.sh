#!/usr/bin/env bash
# The GPU check: epoch time on the GPU against the CPU, and throughput and latency with
# 1, 4, 8 and 16 players sharing the GPU (under 5 minutes). Flags go to bench.gpu_check,
# e.g. `bench/gpu_check.sh --json` or `bench/gpu_check.sh --device cpu --size tiny`.
#
# Python: $PYTHON if set, else the first of python3 and .venv/bin/python that imports torch;
# failing both, a virtualenv under /tmp with torch==2.13.0 (needs the package index).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
cd "$ROOT"

has_torch() { "$1" -c "import torch" >/dev/null 2>&1; }

if [ -z "${PYTHON:-}" ]; then
  for candidate in python3 "$ROOT/.venv/bin/python"; do
    if command -v "$candidate" >/dev/null 2>&1 && has_torch "$candidate"; then
      PYTHON="$candidate"
      break
    fi
  done
fi
if [ -z "${PYTHON:-}" ]; then
  VENV="${GPU_CHECK_VENV:-/tmp/hyperquest-gpu-check-venv}"
  if ! { [ -x "$VENV/bin/python" ] && has_torch "$VENV/bin/python"; }; then
    echo "gpu_check.sh: no Python with torch found; installing torch==2.13.0 into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet torch==2.13.0
  fi
  PYTHON="$VENV/bin/python"
fi

exec "$PYTHON" -m bench.gpu_check "$@"
