"""Celery tasks: each takes IDs only and calls the shared job function, nothing else.

The database connection, the training device and the Redis nudge publisher are created lazily
in the process that runs tasks (a pool child), never in the parent: CUDA must not be initialised
before a fork.
"""

from __future__ import annotations


from celery import shared_task

from app.datasets.jobs import compute_baseline
from app.runs.service import execute_action
from worker.config import COMPUTE_BASELINE, TRAIN_EPOCH
from worker.resources import worker_resources


@shared_task(name=TRAIN_EPOCH, acks_late=True, reject_on_worker_lost=True)
def train_epoch(action_id: int) -> None:
    """Train the epoch of one action (idempotent: a second delivery changes nothing)."""
    res = worker_resources()
    execute_action(res.session_factory, action_id, res.nudge, res.device, res.settings.stale_after_seconds,
                   res.settings.max_attempts, served_by=res.own_queue)


@shared_task(name=COMPUTE_BASELINE, acks_late=True, reject_on_worker_lost=True)
def baseline(dataset_id: int) -> None:
    """Compute and store one dataset's default-schedule baseline (once)."""
    res = worker_resources()
    # No waiting: if another worker holds the job, the web app's reconciler re-sends it should that one die.
    compute_baseline(res.session_factory, dataset_id, res.settings.baseline_epochs, res.device,
                     stale_after=res.settings.stale_after_seconds)
