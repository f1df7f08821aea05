"""The ``hyperquest`` command starts fast and fails in one line: what it imports, and a database it cannot open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Every test here runs the CLI in a Python subprocess.
pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
from app.cli import main

try:
    code = main(sys.argv[1:])
except SystemExit as exc:  # --help exits
    code = exc.code
heavy = sorted(m for m in ("torch", "numpy", "fastapi", "celery") if m in sys.modules)
print("LOADED=" + ",".join(heavy))
sys.exit(code)
"""


def _run(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``hyperquest ARGS`` from this checkout's code, run in ``cwd``."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=environment, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args", [["--help"], ["staff", "--help"], ["staff", "list"], ["migrate", "--help"]])
def test_light_commands_do_not_load_torch(args, tmp_path):
    result = _run(args, tmp_path, {"HYPERQUEST_DATABASE_URL": f"sqlite:///{tmp_path}/hq.sqlite3"})
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip().splitlines()[-1]
    assert loaded == "LOADED=", f"hyperquest {' '.join(args)} imported {loaded[7:]}"


def test_top_level_help_still_lists_every_command(tmp_path):
    result = _run(["--help"], tmp_path)
    for name in ("serve", "migrate", "pool", "staff", "train", "datasets", "calibrate", "export", "lti", "worker"):
        assert f"    {name}" in result.stdout


def test_default_database_outside_the_project_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYPERQUEST_DATABASE_URL"}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", PROBE, "staff", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(tmp_path / "var" / "hyperquest.sqlite3") in lines[0]
    assert "HYPERQUEST_DATABASE_URL" in lines[0]


def test_unparsable_database_url_is_one_line(tmp_path):
    result = _run(["staff", "list"], tmp_path, {"HYPERQUEST_DATABASE_URL": "not a url"})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "HYPERQUEST_DATABASE_URL" in result.stderr
