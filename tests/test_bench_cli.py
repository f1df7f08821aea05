"""``python -m bench``, the measurement command kept apart from the product: bad flags are one line and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Every test here runs `python -m bench` as a separate process.
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args, message", [
    (["--sizes", "huge"], "unknown sizes"),
    (["--parts", "gpu"], "unknown parts"),
    (["--parts", "latency", "--latency-modes", "k8s"], "unknown latency modes"),
    (["--parts", "latency", "--rounds", "0"], "--rounds"),
    (["--parts", "engine", "--dropout", "1.5"], "--dropout must be at least 0 and below 1"),
])
def test_bad_flags_are_one_line_and_nonzero(args, message):
    result = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error:") and message in lines[0], result.stderr


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "bench").glob("*.py")
                                          if p.name not in ("__init__.py", "__main__.py")))
def test_every_bench_script_runs_as_the_docs_name_it(script):
    """`python bench/<script>.py` puts bench/ first on sys.path: no module there may shadow the standard library."""
    module = script[:-3]
    assert module not in sys.stdlib_module_names, f"bench/{script} shadows the standard library's {module}"


@pytest.mark.parametrize("script", ["class_simulation.py", "pool_cold_start.py"])
def test_the_class_and_pool_scripts_start_from_a_checkout(script):
    result = subprocess.run([sys.executable, f"bench/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def test_the_reference_sharing_script_finds_the_shared_curves_identical():
    result = subprocess.run([sys.executable, "bench/reference_sharing.py", "--datasets", "clusters:1", "--size", "tiny",
                             "--epochs", "4"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clusters:1   identical" in result.stdout and "less" in result.stdout.splitlines()[-1]


def test_the_class_simulation_refuses_a_players_worker_without_a_second_worker():
    """Keeping a worker for players' epochs (the compose layout) leaves nobody for the pool with one worker."""
    result = subprocess.run([sys.executable, "bench/class_simulation.py", "--mode", "celery", "--workers", "1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--players-worker needs --workers 2 or more" in result.stderr.strip().splitlines()[-1]
