"""The runner contract: what the web app asks of whichever runner the deployment uses."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Runner(Protocol):
    """Takes committed jobs (ids of database rows) and gets them done outside the request.

    Implemented by app.runner.thread_runner.ThreadRunner (server threads),
    app.runner.trainer_process.ProcessRunner (a child process; the embedded default) and
    app.runner.celery_runner.CeleryRunner (Celery workers, scaled-out mode). The database holds
    every job, so a runner that dies loses nothing: the next one picks the work up again.
    """

    #: False while the runner cannot take work (the broker is down); pages then say the work waits safely.
    healthy: bool

    def start(self) -> None:
        """Start serving, and pick up the work an earlier process left unfinished."""

    def stop(self, timeout: float = ...) -> None:
        """Stop serving; a job cut short is done again by the next runner."""

    def submit_action(self, action_id: int) -> None:
        """A committed action's epoch (or an ended run's test accuracy) to do."""

    def submit_baseline(self, dataset_id: int) -> None:
        """A committed dataset's baselines and reference players to compute."""

    def submit_branch(self, branch_id: int) -> None:
        """A committed debrief branch to play."""

    def submit_grades(self) -> None:
        """Grades were just planned: post them to the LMS now (failures are retried by the runner)."""
