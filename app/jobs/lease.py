"""The lease: the one claim / heartbeat / finish / re-queue implementation every runner and kind uses.

A job is taken with one conditional UPDATE (pending and due, or running with a stale heartbeat,
i.e. its holder died), so two runners handed the same job never both run it: the database
decides. Every later write is conditional on still holding the lease, so a runner presumed dead
that wakes up late changes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.jobs.models import DONE, FAILED, PENDING, RUNNING, Job

ERROR_MAX = 2000


def holder_id(slot: str | int) -> str:
    """A lease holder's name: host, process id and the slot (thread or process) within the runner."""
    return f"{socket.gethostname()}:{os.getpid()}:{slot}"


def holder_process(holder: str | None) -> tuple[str, int] | None:
    """(host, pid) of a holder name, or None when it is not one."""
    parts = (holder or "").split(":")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def _claimable(now: dt.datetime, stale_after: float):
    """SQL condition: pending and due, or running under a lease whose holder stopped reporting."""
    stale = now - dt.timedelta(seconds=stale_after)
    return or_(
        and_(Job.status == PENDING, Job.run_after <= now),
        and_(Job.status == RUNNING, or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale)),
    )


def _held(job_id: int, holder: str):
    return and_(Job.id == job_id, Job.status == RUNNING, Job.leased_by == holder)


def claim(db: Session, job_id: int, holder: str, stale_after: float) -> bool:
    """Take the lease on ``job_id`` (one start more); False when it is not claimable by anyone now."""
    now = utcnow()
    return bool(db.execute(
        update(Job).where(Job.id == job_id, _claimable(now, stale_after))
        .values(status=RUNNING, attempts=Job.attempts + 1, leased_by=holder, heartbeat_at=now, started_at=now,
                finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount)


def candidates(db: Session, lanes, stale_after: float, own_queue: str | None = None, limit: int = 8) -> list[int]:
    """Claimable jobs of ``lanes``, highest priority first, oldest first within a lane.

    A job handed to one worker's own queue (scaled out: the worker holding its run's data) is left
    to that worker, unless ``own_queue`` is that queue.
    """
    routed_elsewhere = and_(Job.dispatched_queue.is_not(None), Job.dispatched_queue != (own_queue or ""))
    return list(db.scalars(select(Job.id).where(Job.lane.in_(list(lanes)), _claimable(utcnow(), stale_after),
                                                ~routed_elsewhere)
                           .order_by(Job.priority, Job.id).limit(limit)))


def claim_next(db: Session, lanes, holder: str, stale_after: float, own_queue: str | None = None) -> int | None:
    """Lease the next due job of ``lanes`` in priority order (see ``candidates``); None when there is none."""
    for job_id in candidates(db, lanes, stale_after, own_queue):
        if claim(db, job_id, holder, stale_after):
            return job_id
    return None


def beat(db: Session, job_ids, holder: str) -> int:
    """Refresh the heartbeat of the jobs ``holder`` still holds; how many it holds."""
    ids = list(job_ids)
    if not ids:
        return 0
    return db.execute(update(Job).where(Job.id.in_(ids), Job.status == RUNNING, Job.leased_by == holder)
                      .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)).rowcount


def finish(db: Session, job_id: int, holder: str) -> bool:
    """The job is done (False if the lease was lost meanwhile); an error it recovered from stays on record."""
    return bool(db.execute(update(Job).where(_held(job_id, holder))
                           .values(status=DONE, finished_at=utcnow(), heartbeat_at=None)
                           .execution_options(synchronize_session=False)).rowcount)


def release(db: Session, job_id: int, holder: str) -> bool:
    """Give the job back unfinished (its runner is stopping): pending now, this start not counted."""
    return bool(db.execute(update(Job).where(_held(job_id, holder))
                           .values(status=PENDING, attempts=Job.attempts - 1, leased_by=None, heartbeat_at=None,
                                   dispatched_at=None, dispatched_queue=None, run_after=utcnow())
                           .execution_options(synchronize_session=False)).rowcount)


def retry_later(db: Session, job_id: int, holder: str, error: str, delay: float) -> bool:
    """A transient failure: pending again after ``delay`` seconds, this start not counted, the error kept."""
    return bool(db.execute(update(Job).where(_held(job_id, holder))
                           .values(status=PENDING, attempts=Job.attempts - 1, retries=Job.retries + 1,
                                   run_after=utcnow() + dt.timedelta(seconds=delay), last_error=error[:ERROR_MAX],
                                   leased_by=None, heartbeat_at=None, dispatched_at=None, dispatched_queue=None)
                           .execution_options(synchronize_session=False)).rowcount)


def fail(db: Session, job_id: int, holder: str | None, error: str) -> bool:
    """The job has finally failed (``holder`` None: whoever holds it); it waits for an instructor's retry."""
    condition = _held(job_id, holder) if holder else and_(Job.id == job_id, Job.status.in_((PENDING, RUNNING)))
    return bool(db.execute(update(Job).where(condition)
                           .values(status=FAILED, finished_at=utcnow(), heartbeat_at=None, last_error=error[:ERROR_MAX])
                           .execution_options(synchronize_session=False)).rowcount)


def requeue_dead(db: Session, is_dead) -> list[int]:
    """Jobs whose holder ``is_dead(holder)``: pending again at once, rather than after a heartbeat goes stale."""
    dead = [job_id for job_id, holder in db.execute(select(Job.id, Job.leased_by).where(Job.status == RUNNING))
            if is_dead(holder)]
    if dead:
        db.execute(update(Job).where(Job.id.in_(dead), Job.status == RUNNING)
                   .values(status=PENDING, leased_by=None, heartbeat_at=None, run_after=utcnow(), dispatched_at=None,
                           dispatched_queue=None)
                   .execution_options(synchronize_session=False))
    return dead


def process_is_dead(holder: str | None, host: str | None = None) -> bool:
    """True for a holder on this host whose process no longer runs (a holder elsewhere is judged by its heartbeat)."""
    where = holder_process(holder)
    if where is None or where[0] != (host or socket.gethostname()):
        return False
    try:
        os.kill(where[1], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(where[1])


def _zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet counts as dead."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False
