"""What both embedded runners (thread and process) share: the job functions, the job loop, re-queueing at start."""

from __future__ import annotations

import logging
import queue
from typing import Callable

from app.errors import JobCancelled

log = logging.getLogger(__name__)

#: Put on a job queue to end the loop serving it.
STOP = None


def job_functions(session_factory, settings, device: str, stopping, publish: Callable[[int], None]):
    """(run_epoch, run_baseline) with a runner's settings: both report progress through ``publish``
    and stop at their next batch once ``stopping`` (an Event) is set."""
    from app.datasets import jobs as dataset_jobs
    from app.runs import service as runs

    def check_stopping(*_args) -> None:
        if stopping.is_set():
            raise JobCancelled()

    def progress(run_id: int, _done: int, _total: int) -> None:
        check_stopping()
        publish(run_id)

    def run_epoch(action_id: int) -> None:
        runs.execute_action(session_factory, action_id, progress, device,
                            stale_after=settings.stale_after_seconds, max_attempts=settings.max_attempts)

    def run_baseline(dataset_id: int) -> None:
        # wait: a `pool prepare` may be computing it right now; take it over if that one dies.
        dataset_jobs.compute_baseline(session_factory, dataset_id, settings.baseline_epochs, device, check_stopping,
                                      wait=True, stale_after=settings.stale_after_seconds)

    return run_epoch, run_baseline


def serve_jobs(jobs: queue.Queue, handler: Callable[[int], None]) -> None:
    """Run ``handler`` on each job id from ``jobs`` until STOP or a cancelled job."""
    while True:
        job = jobs.get()
        if job is STOP:
            return
        try:
            handler(job)
        except JobCancelled:
            return
        except Exception:  # a job's failure must not stop the thread serving everyone
            log.exception("job %s failed", job)


def queue_unfinished(session_factory, submit_action: Callable[[int], None], submit_baseline: Callable[[int], None]) -> None:
    """Hand every unfinished epoch and baseline to a runner that just started (the only one there is).

    Actions left running were interrupted (the runner that held them is gone) and go back to queued.
    """
    from app.datasets import jobs as dataset_jobs
    from app.runs import service as runs

    with session_factory() as db:
        runs.requeue_interrupted(db)
        db.commit()
        for action_id in runs.pending_actions(db):
            submit_action(action_id)
        for dataset_id in dataset_jobs.pending_baselines(db):
            submit_baseline(dataset_id)
