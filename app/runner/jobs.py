"""What both embedded runners (thread and process) share: the job functions, the job loop, re-queueing at start.

Background jobs (a dataset's baselines and reference players, a run's debrief branch) travel as
``(kind, id)`` pairs on one queue, so a player's epoch queue never waits behind them.
"""

from __future__ import annotations

import logging
import queue
from typing import Callable

from app.errors import JobCancelled

log = logging.getLogger(__name__)

#: Put on a job queue to end the loop serving it.
STOP = None
#: Kinds of background job.
BASELINE, BRANCH = "baseline", "branch"


def job_functions(session_factory, settings, device: str, stopping, publish: Callable[[int], None],
                  submit_background: Callable[[tuple[str, int]], None]):
    """(run_epoch, run_background) with a runner's settings: both report progress through ``publish``
    and stop at their next batch once ``stopping`` (an Event) is set. An epoch that ends a run
    hands the branches it planned to ``submit_background``."""
    from app.datasets import jobs as dataset_jobs
    from app.debrief import jobs as debrief_jobs
    from app.runs import epoch_job

    def check_stopping(*_args) -> None:
        if stopping.is_set():
            raise JobCancelled()

    def progress(run_id: int, _done: int, _total: int) -> None:
        check_stopping()
        publish(run_id)

    def run_epoch(action_id: int) -> None:
        epoch_job.execute_action(session_factory, action_id, progress, device,
                            stale_after=settings.stale_after_seconds, max_attempts=settings.max_attempts)
        for branch_id in debrief_jobs.branches_planned_by(session_factory, action_id):
            submit_background((BRANCH, branch_id))

    def run_background(job: tuple[str, int]) -> None:
        kind, job_id = job
        if kind == BRANCH:
            debrief_jobs.compute_branch(session_factory, job_id, device, progress,
                                        stale_after=settings.stale_after_seconds, max_attempts=settings.max_attempts)
            return
        # wait: a `pool prepare` may be computing it right now; take it over if that one dies.
        dataset_jobs.compute_baseline(session_factory, job_id, settings.baseline_epochs, device, check_stopping,
                                      wait=True, stale_after=settings.stale_after_seconds)
        dataset_jobs.compute_references(session_factory, job_id, settings.baseline_epochs, device, check_stopping,
                                        stale_after=settings.stale_after_seconds)

    return run_epoch, run_background


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


def queue_unfinished(session_factory, submit_action: Callable[[int], None],
                     submit_background: Callable[[tuple[str, int]], None]) -> None:
    """Hand every unfinished epoch, baseline and branch to a runner that just started (the only one there is).

    Actions left running were interrupted (the runner that held them is gone) and go back to queued;
    so do branches (a branch is played again from its start).
    """
    from app.datasets import jobs as dataset_jobs
    from app.debrief import jobs as debrief_jobs
    from app.runs import dispatch

    with session_factory() as db:
        dispatch.requeue_interrupted(db)
        debrief_jobs.requeue_interrupted(db)
        db.commit()
        for action_id in dispatch.pending_actions(db):
            submit_action(action_id)
        for dataset_id in dataset_jobs.pending_baselines(db):
            submit_background((BASELINE, dataset_id))
        for branch_id in debrief_jobs.pending_branches(db):
            submit_background((BRANCH, branch_id))
