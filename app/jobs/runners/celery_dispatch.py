"""Handing committed jobs to Celery, and finding the ones to hand over again: shared by web processes and workers."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from celery import Celery
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.jobs import registry
from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import RUN_JOB, lane_queue, time_limits
from app.jobs.lanes import TRAINING_LANES
from app.jobs.models import PENDING, RUNNING, Job
from app.settings import Settings

log = logging.getLogger(__name__)

#: A send that cannot reach the broker gives up quickly: the reconciler tries again later.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


def send_jobs(celery: Celery, session_factory: sessionmaker, settings: Settings, job_ids,
              signals: BrokerSignals) -> int:
    """Send the unfinished training jobs among ``job_ids`` to their lanes' queues, highest priority first.

    A kind may route a job to a preferred queue (a run's epochs to the worker holding its data)
    while that worker lives and has a process free for it (``signals.available``); otherwise the
    job goes to its lane's shared queue, where the first free worker takes it. Sent jobs are
    announced, so busy workers look for them at their next yield point. Raises when the broker
    cannot be reached (the reconciler re-sends).
    """
    ids = list(job_ids)
    if not ids:
        return 0
    with session_factory() as db:
        jobs = list(db.scalars(select(Job).where(Job.id.in_(ids), Job.status.in_((PENDING, RUNNING)),
                                                 Job.lane.in_(TRAINING_LANES)).order_by(Job.priority, Job.id)))
        routes = {job.id: _route(db, job) for job in jobs}
    sent = 0
    for job in jobs:
        preferred = routes[job.id]
        own = preferred if preferred is not None and signals.available(preferred) else None
        queue = own or lane_queue(settings, job.lane)
        celery.send_task(RUN_JOB, args=[job.id], queue=queue, retry=True, retry_policy=SEND_RETRY_POLICY,
                         **time_limits(settings, job.lane))
        with session_factory() as db:
            db.execute(update(Job).where(Job.id == job.id).values(dispatched_at=utcnow(), dispatched_queue=own))
            db.commit()
        sent += 1
    signals.announce(job.lane for job in jobs)
    return sent


def _route(db: Session, job: Job) -> str | None:
    kind = registry.kind(job.kind)
    return kind.route(db, job.subject_id) if kind.route is not None else None


def jobs_to_send(db: Session, settings: Settings, alive: Callable[[str], bool]) -> list[int]:
    """Training jobs to hand to the broker (again): never sent, due again after a back-off, lost, or orphaned.

    Lost: sent over ``resend_after_seconds`` ago and still pending (Redis restarted empty). Orphaned:
    waiting in the own queue of a worker that died, or leased by a worker that stopped reporting.
    """
    now = utcnow()
    resend = now - dt.timedelta(seconds=settings.resend_after_seconds)
    stale = now - dt.timedelta(seconds=settings.stale_after_seconds)
    rows = db.execute(select(Job.id, Job.status, Job.dispatched_queue).where(
        Job.lane.in_(TRAINING_LANES),
        or_(
            and_(Job.status == PENDING, Job.run_after <= now,
                 or_(Job.dispatched_at.is_(None), Job.dispatched_at < resend, Job.dispatched_queue.is_not(None))),
            # Sent again at most once per stale period: a message already waits for the next worker.
            and_(Job.status == RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale),
                 or_(Job.dispatched_at.is_(None), Job.dispatched_at < stale)),
        )).order_by(Job.priority, Job.id))
    due = []
    for job_id, status, own_queue in rows:
        if status == PENDING and own_queue is not None and alive(own_queue):
            continue  # waiting for its worker, which lives
        due.append(job_id)
    return due
