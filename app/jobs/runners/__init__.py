"""The runners: what starts executors for a deployment, and what they are told when there is new work.

Every runner keeps the contract of ``Runner``; the web app only talks to ``app.state.runner``
through it (and, without even that, through the database: enqueued jobs announce themselves
after their transaction commits, app.jobs.queue.on_new_work).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sqlalchemy.orm import sessionmaker

from app.live.notify import Notifier
from app.settings import Settings


@runtime_checkable
class Runner(Protocol):
    """Starts and stops the executors of a deployment; told of new work by the commit hook."""

    #: False while the runner cannot take work (the broker is down); pages then say the work waits safely.
    healthy: bool

    def start(self) -> None:
        """Start serving, and pick up the work an earlier process left unfinished."""

    def stop(self, timeout: float = ...) -> None:
        """Stop serving; a job cut short is released and run again by the next runner."""

    def new_work(self, jobs: list[tuple[int, str]]) -> None:
        """Jobs ``(id, lane)`` were just committed."""


def make_runner(settings: Settings, session_factory: sessionmaker, notifier: Notifier, device: str) -> Runner:
    """Training processes (or threads) in embedded mode; Celery workers when a Redis URL is configured."""
    if settings.embedded:
        from app.jobs.runners.embedded import ProcessRunner, ThreadRunner

        runner_class = ProcessRunner if settings.embedded_runner == "process" else ThreadRunner
        return runner_class(session_factory, settings, notifier, device)
    from app.jobs.runners.celery_runner import CeleryRunner  # Celery is imported only where it is used

    return CeleryRunner(session_factory, settings, notifier)
