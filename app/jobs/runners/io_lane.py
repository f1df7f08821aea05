"""The I/O lane: a thread of the web process that runs network jobs (grade posts), never behind training."""

from __future__ import annotations

import threading

from sqlalchemy.orm import sessionmaker

from app.jobs.executor import Executor
from app.jobs.keeper import LeaseKeeper
from app.jobs.lanes import IO
from app.jobs.lease import holder_id
from app.settings import Settings


class IoLane:
    """One executor thread serving the I/O lane; every runner owns one."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, keeper: LeaseKeeper) -> None:
        self._stopping = threading.Event()
        self.executor = Executor(session_factory, settings, "cpu", (IO,), holder_id("io"), keeper,
                                 stopping=self._stopping)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (posts left pending by an earlier process go out first)."""
        self._thread = threading.Thread(target=self.executor.serve, name="hq-io", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A network job was just committed."""
        self.executor.wake()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the job in progress (one cut short is retried by the next process)."""
        self._stopping.set()
        self.executor.wake()
        if self._thread is not None:
            self._thread.join(timeout)
