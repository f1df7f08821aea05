"""Starting HyperQuest processes (`hyperquest serve`, `hyperquest worker`) as children.

Used by the latency benchmark and by the integration tests, which both need the real
processes rather than in-process stand-ins.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose output is collected in the background (for failure messages)."""

    def __init__(self, args: list[str], env: dict[str, str], name: str, cwd: str | Path | None = None) -> None:
        self.name = name
        self.lines: list[str] = []
        self.popen = subprocess.Popen(args, env=env, cwd=cwd or ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        """Everything the process printed so far (the last 200 lines)."""
        return "".join(self.lines[-200:])

    def wait_for_line(self, text: str, timeout: float) -> None:
        """Block until the process prints a line containing ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.name} never printed {text!r}:\n{self.output}")

    def kill9(self) -> None:
        """SIGKILL the whole process group: the machine-died case (no clean-up runs)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()


def hyperquest_env(**settings: str) -> dict[str, str]:
    """The environment of a child process with HYPERQUEST_* settings (lower-case keys)."""
    env = dict(os.environ)
    for key in [k for k in env if k.startswith("HYPERQUEST_")]:
        del env[key]
    env.update({f"HYPERQUEST_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def hyperquest_command() -> list[str]:
    """This interpreter's `hyperquest` (the code it imports, e.g. the checkout's)."""
    return [sys.executable, "-m", "app.cli"]


def start_server(env: dict[str, str], port: int | None = None, command: list[str] | None = None,
                 cwd: str | Path | None = None) -> tuple[Process, str]:
    """`hyperquest serve` on a free port; returns the process and its base URL once it answers.

    ``command`` replaces the `hyperquest` to run (default: this interpreter's, see ``hyperquest_command``),
    e.g. another virtualenv's console script; ``cwd`` is where it starts (default: the repository root).
    """
    port = port or free_port()
    process = Process([*(command or hyperquest_command()), "serve", "--port", str(port)], env, "server", cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(base + "/login", timeout=2)
            return process, base
        except (OSError, urllib.error.URLError):
            if process.popen.poll() is not None or time.monotonic() > deadline:
                process.stop()
                raise AssertionError(f"server did not start:\n{process.output}")
            time.sleep(0.2)


def start_worker(env: dict[str, str], queues: str = "players,debrief,pool,background", command: list[str] | None = None,
                 cwd: str | Path | None = None) -> Process:
    """`hyperquest worker`, returned once Celery reports it is ready to take tasks (``command``, ``cwd``:
    as for ``start_server``)."""
    process = Process([*(command or hyperquest_command()), "worker", "--queues", queues,
                       "--name", f"test-{uuid.uuid4().hex[:6]}@localhost"], env, "worker", cwd)
    process.wait_for_line("ready.", timeout=90)
    return process
