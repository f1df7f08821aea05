"""The Celery task: a message carries a job id; the body runs that job with the shared executor, nothing else.

The database connection, the training device and the Redis nudge publisher are created lazily
in the process that runs tasks (a pool child), never in the parent: CUDA must not be initialised
before a fork.
"""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_process_init

from app.jobs.celery_config import RUN_JOB
from worker.resources import warm_up_process, worker_resources


@shared_task(name=RUN_JOB, acks_late=True, reject_on_worker_lost=True)
def run_job(job_id: int) -> None:
    """Run one job (idempotent: a second delivery finds it done, or held by a live worker)."""
    worker_resources().executor.run_job(job_id)


@worker_process_init.connect
def _ready_before_the_first_task(**_kwargs) -> None:
    """A pool process creates its resources and warms up before it takes a task (see engine.warmup)."""
    warm_up_process()
