"""What a job function gets: its subject, the runner's database and device, progress and yield points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from sqlalchemy.orm import sessionmaker

if TYPE_CHECKING:
    from app.jobs.executor import Executor
    from app.settings import Settings


class JobContext:
    """Handed to ``run(ctx, subject_id)`` of every kind; long jobs call ``yield_point`` between steps."""

    def __init__(self, executor: Executor, job_id: int, lane: str) -> None:
        self._executor = executor
        self.job_id = job_id
        self.lane = lane

    @property
    def session_factory(self) -> sessionmaker:
        """Sessions of the runner's database (open them short: never around torch work)."""
        return self._executor.session_factory

    @property
    def settings(self) -> Settings:
        """The runner's settings."""
        return self._executor.settings

    @property
    def device(self) -> str:
        """Where to train."""
        return self._executor.device

    @property
    def served_by(self) -> str | None:
        """Scaled-out mode: the own queue of the worker running this job (a run's next epoch goes there)."""
        return self._executor.served_by

    def publish(self, run_id: int, boundary: bool = True) -> None:
        """Nudge the live pages watching ``run_id`` (they re-read the database); mid-step nudges may be throttled."""
        self._executor.publish(run_id, boundary)

    def yield_point(self) -> None:
        """Between two steps of long work: run waiting higher-priority jobs, pause for players, stop if asked.

        Raises JobCancelled when the runner is stopping (the job is released and run again later).
        """
        self._executor.yield_point(self)

    def progress(self, run_id: int | None = None) -> Callable[[int, int], None]:
        """A training-loop progress callback ``(done, total)`` that nudges ``run_id``'s pages and yields."""

        def callback(_done: int, _total: int) -> None:
            if run_id is not None:
                self.publish(run_id, boundary=False)
            self.yield_point()

        return callback
