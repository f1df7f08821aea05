"""What both embedded runners (thread and process) share: the job loop and re-queueing at start."""

from __future__ import annotations

import logging
import queue
from typing import Callable

from app.errors import JobCancelled

log = logging.getLogger(__name__)

#: Put on a job queue to end the loop serving it.
STOP = None


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
