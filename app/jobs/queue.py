"""Enqueueing: a job row added to the caller's transaction, announced to the runner once it commits.

A job therefore exists exactly when the change that needs it is committed (a rolled-back request
leaves none), and no runner is told about a job it cannot see yet.
"""

from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import utcnow
from app.db.insert import insert_if_absent
from app.jobs import registry
from app.jobs.lanes import PRIORITY
from app.jobs.models import DONE, FAILED, PENDING, Job

log = logging.getLogger(__name__)

#: Session.info key: (job id, lane) of the jobs the session's transaction enqueued.
NEW_JOBS = "hyperquest.new_jobs"

NewWork = Callable[[list[tuple[int, str]]], None]


def enqueue(db: Session, kind_name: str, subject_id: int, restart: bool = False) -> Job:
    """The job of ``kind_name`` on ``subject_id``, added to ``db``'s transaction if there is none yet.

    Idempotent per kind and subject: an existing job is returned as it is, unless ``restart`` asks
    for a finished or failed one to run again from scratch.
    """
    kind = registry.kind(kind_name)
    now = utcnow()
    insert_if_absent(db, Job, {"kind": kind.name, "subject_id": subject_id, "lane": kind.lane,
                               "priority": PRIORITY[kind.lane], "status": PENDING, "attempts": 0, "retries": 0,
                               "run_after": now, "created_at": now}, ["kind", "subject_id"])
    job = db.scalar(select(Job).where(Job.kind == kind.name, Job.subject_id == subject_id)
                    .execution_options(populate_existing=True))
    if restart and job.status in (DONE, FAILED):
        reset(db, job.id)
        db.refresh(job)
    db.info.setdefault(NEW_JOBS, []).append((job.id, job.lane))
    return job


def reset(db: Session, job_id: int) -> None:
    """A job pending again as if new: its attempts, retries and error are forgotten."""
    db.execute(update(Job).where(Job.id == job_id).values(
        status=PENDING, attempts=0, retries=0, run_after=utcnow(), leased_by=None, heartbeat_at=None,
        last_error=None, dispatched_at=None, dispatched_queue=None, started_at=None, finished_at=None))
    db.info.setdefault(NEW_JOBS, []).append((job_id, db.scalar(select(Job.lane).where(Job.id == job_id))))


def on_new_work(session_factory: sessionmaker, callback: NewWork) -> Callable[[], None]:
    """Call ``callback([(job id, lane), ...])`` after each commit of a ``session_factory`` session that enqueued jobs.

    Returns the function that stops it. A callback that raises is logged, never passed to the
    committing code: the jobs are in the database and a runner's poll finds them anyway.
    """
    callbacks = _callbacks(session_factory)
    callbacks.append(callback)
    return lambda: callbacks.remove(callback)


def _callbacks(session_factory: sessionmaker) -> list[NewWork]:
    """The factory's list of new-work callbacks, with its commit and rollback listeners installed once."""
    callbacks = getattr(session_factory, "_hyperquest_new_work", None)
    if callbacks is not None:
        return callbacks
    callbacks = []
    session_factory._hyperquest_new_work = callbacks

    def after_commit(session: Session) -> None:
        new = session.info.pop(NEW_JOBS, None)
        for callback in list(callbacks) if new else ():
            try:
                callback(new)
            except Exception:
                log.exception("could not announce new jobs %s", new)

    def after_rollback(session: Session) -> None:
        session.info.pop(NEW_JOBS, None)  # rolled back: those jobs do not exist

    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", after_rollback)
    return callbacks
