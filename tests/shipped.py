"""The production install, as the Dockerfile makes it, in a virtualenv outside the repository.

``ShippedVenv.prepare()`` creates (or reuses) ``~/.cache/hyperquest/shipped-venv-<hash>``: torch
exactly as the Makefile pins it, then the project with the Dockerfile's extras. The venv is keyed
by pyproject.toml, the extras and the torch spec, so it is rebuilt only when one of them changes.
On every run the project itself is reinstalled (no dependencies) from a fresh copy of the folders
the Dockerfile copies, so the venv always holds the current code and no build/ or egg-info leftovers.

Also the Dockerfile/Makefile/pyproject parsing that tests/test_compose.py shares.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hyperquest"
LOCK_TIMEOUT_SECONDS = 1800
#: Environment variables that would make a child import something other than the venv's own files.
FOREIGN_PYTHON_VARS = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV")


# --- what the repository says about the install -------------------------------------------------

def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerfile_copy_sources() -> list[str]:
    """Every source path of the Dockerfile's COPY instructions from the build context (no --from)."""
    sources: list[str] = []
    for keyword, args in dockerfile_instructions():
        if keyword != "COPY":
            continue
        parts = shlex.split(args)
        if any(p.startswith("--from") for p in parts):
            continue
        paths = [p for p in parts if not p.startswith("--")]
        sources += [p.rstrip("/") for p in paths[:-1]]
    return sources


def dockerfile_extras() -> list[str]:
    """The extras of the Dockerfile's project install, e.g. ``pip install "/tmp/hyperquest[monitoring]"``."""
    found: list[list[str]] = []
    for keyword, args in dockerfile_instructions():
        if keyword != "RUN" or "pip install" not in args:
            continue
        for token in shlex.split(args):
            match = re.fullmatch(r"[./][^\[\]]*\[([A-Za-z0-9_,\- ]+)\]", token)
            if match:
                found.append([e.strip() for e in match.group(1).split(",") if e.strip()])
    assert len(found) == 1, f"expected one `pip install <project>[extras]` in the Dockerfile, found {found}"
    return found[0]


def dockerfile_torch_spec() -> str:
    for keyword, args in dockerfile_instructions():
        if keyword == "ARG" and args.startswith("TORCH_SPEC="):
            return args.split("=", 1)[1].strip('"')
    raise AssertionError("the Dockerfile has no ARG TORCH_SPEC=...")


def makefile_torch_spec() -> str:
    match = re.search(r"^TORCH_SPEC\s*\?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "the Makefile has no TORCH_SPEC ?= ..."
    return match.group(1)


def shipped_top_level() -> set[str]:
    """Top-level folders the wheel ships, computed from pyproject's setuptools configuration."""
    from setuptools import find_namespace_packages, find_packages

    config = pyproject()["tool"]["setuptools"]
    find = config["packages"]["find"]
    finder = find_namespace_packages if find.get("namespaces", True) else find_packages
    packages = finder(where=str(ROOT / find.get("where", ["."])[0]), include=find.get("include", ["*"]),
                      exclude=find.get("exclude", []))
    names = {p.split(".")[0] for p in packages}
    names |= {key.split(".")[0] for key in config.get("package-data", {}) if key != "*"}
    return names


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the variables that would let a child import the checkout instead of the venv."""
    return {k: v for k, v in env.items() if k not in FOREIGN_PYTHON_VARS}


# --- the venv ------------------------------------------------------------------------------------

def _run(args: list, what: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{what} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


class ShippedVenv:
    """The venv, locked for as long as one test module uses it (another run waits, then reinstalls)."""

    def __init__(self) -> None:
        self.extras = dockerfile_extras()
        self.torch_spec = makefile_torch_spec()
        key = hashlib.sha256()
        for part in ((ROOT / "pyproject.toml").read_bytes(), ",".join(self.extras).encode(), self.torch_spec.encode(),
                     sys.version.encode()):
            key.update(part + b"\0")
        self.key = key.hexdigest()[:12]
        self.path = CACHE / f"shipped-venv-{self.key}"
        self.python = self.path / "bin" / "python"
        self.created_seconds: float | None = None  # None: reused
        self.install_seconds = 0.0
        self._lock = None

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def site_packages(self) -> Path:
        out = _run([self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], "site-packages",
                   env=clean_env(os.environ))
        return Path(out.stdout.strip())

    def prepare(self) -> ShippedVenv:
        CACHE.mkdir(parents=True, exist_ok=True)
        self._lock = open(CACHE / f"shipped-venv-{self.key}.lock", "w")
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.path} stayed locked by another test run") from None
                time.sleep(1)
        try:
            if not (self.path / ".complete").exists():
                started = time.monotonic()
                self._create()  # installs the current tree too
                self.created_seconds = time.monotonic() - started
            else:
                started = time.monotonic()
                self._install_project()
                self.install_seconds = time.monotonic() - started
            self._remove_stale_venvs()
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        if self._lock:
            self._lock.close()  # closing drops the lock
            self._lock = None

    def _pip(self, *args, what: str) -> None:
        _run([self.python, "-m", "pip", "--disable-pip-version-check", "install", "--quiet", *args], what,
             env=clean_env(os.environ), cwd=tempfile.gettempdir())

    def _create(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        _run([sys._base_executable, "-m", "venv", self.path], "python -m venv", env=clean_env(os.environ))
        self._pip(self.torch_spec, what=f"pip install {self.torch_spec}")
        # Nothing later may swap the torch build: pin exactly the one just installed.
        torch_version = _run([self.python, "-c", "import torch; print(torch.__version__)"], "torch version",
                             env=clean_env(os.environ), cwd=tempfile.gettempdir()).stdout.strip()
        constraints = self.path / "torch-constraint.txt"
        constraints.write_text(f"torch=={torch_version}\n")
        # The declared build requirements, so each run's reinstall builds without fetching them again.
        self._pip(*pyproject()["build-system"]["requires"], "-c", constraints, what="pip install build requirements")
        with tempfile.TemporaryDirectory() as folder:
            source = self._copy_sources(Path(folder))
            self._pip(f"{source}[{','.join(self.extras)}]", "-c", constraints,
                      what=f"pip install .[{','.join(self.extras)}]")
        (self.path / ".complete").write_text(f"{self.torch_spec} [{','.join(self.extras)}]\n")

    def _install_project(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            source = self._copy_sources(Path(folder))
            self._pip("--no-deps", "--force-reinstall", "--no-build-isolation", source,
                      what="pip install --no-deps --force-reinstall (the current tree)")

    @staticmethod
    def _copy_sources(folder: Path) -> Path:
        """What the Dockerfile copies into its build context, without caches or build leftovers."""
        source = folder / "hyperquest"
        source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        for name in dockerfile_copy_sources():
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=ignore)
            else:
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, source / name)
        return source

    def _remove_stale_venvs(self) -> None:
        """Venvs of older pyproject.toml versions (about a gigabyte each) that no run is using."""
        for lock_path in CACHE.glob("shipped-venv-*.lock"):
            other = lock_path.with_suffix("")
            if other == self.path:
                continue
            with open(lock_path, "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                shutil.rmtree(other, ignore_errors=True)
                lock_path.unlink(missing_ok=True)
