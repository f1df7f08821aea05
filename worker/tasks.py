"""Celery tasks: each takes IDs only and calls the shared job function, nothing else.

The database connection, the training device and the Redis nudge publisher are created lazily
in the process that runs tasks (a pool child), never in the parent: CUDA must not be initialised
before a fork.
"""

from __future__ import annotations


from celery import current_app, shared_task

from app.datasets.jobs import compute_baseline, compute_references
from app.debrief.jobs import branches_planned_by, compute_branch
from app.runs.epoch_job import execute_action
from app.runner.celery_config import COMPUTE_BASELINE, COMPUTE_BRANCH, TRAIN_EPOCH
from worker.resources import worker_resources


@shared_task(name=TRAIN_EPOCH, acks_late=True, reject_on_worker_lost=True)
def train_epoch(action_id: int) -> None:
    """Train the epoch of one action (idempotent: a second delivery changes nothing)."""
    res = worker_resources()
    execute_action(res.session_factory, action_id, res.nudge, res.device, res.settings.stale_after_seconds,
                   res.settings.max_attempts, served_by=res.own_queue)
    # An epoch that ended its run planned the debrief's branches: send them now rather than at
    # the web app's next reconciliation (which still re-sends any this send loses).
    for branch_id in branches_planned_by(res.session_factory, action_id):
        current_app.send_task(COMPUTE_BRANCH, args=[branch_id])


@shared_task(name=COMPUTE_BRANCH, acks_late=True, reject_on_worker_lost=True)
def branch(branch_id: int) -> None:
    """Play and store one debrief branch (once; a second delivery finds it done or taken)."""
    res = worker_resources()
    compute_branch(res.session_factory, branch_id, res.device, res.nudge, res.settings.stale_after_seconds,
                   res.settings.max_attempts)


@shared_task(name=COMPUTE_BASELINE, acks_late=True, reject_on_worker_lost=True)
def baseline(dataset_id: int) -> None:
    """Compute and store one dataset's default-schedule baseline (once)."""
    res = worker_resources()
    # No waiting: if another worker holds the job, the web app's reconciler re-sends it should that one die.
    compute_baseline(res.session_factory, dataset_id, res.settings.baseline_epochs, res.device,
                     stale_after=res.settings.stale_after_seconds)
    compute_references(res.session_factory, dataset_id, res.settings.baseline_epochs, res.device,
                       stale_after=res.settings.stale_after_seconds)
