"""The backlog as people see it: what waits in each lane, what failed and why, and an instructor's retry."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.base import as_utc, utcnow
from app.errors import Conflict, NotFound
from app.jobs import registry
from app.jobs.lanes import LANES
from app.jobs.models import FAILED, PENDING, RUNNING, Job
from app.jobs.queue import reset

#: Failed jobs listed at most (newest first).
FAILED_SHOWN = 50


@dataclasses.dataclass(frozen=True)
class KindBacklog:
    """One kind of job in one lane: how many wait, run and failed, and how long the oldest has waited."""

    lane: str
    kind: str
    pending: int
    running: int
    failed: int
    retrying: int
    oldest_wait_seconds: float | None


def backlog(db: Session) -> list[KindBacklog]:
    """Per lane and kind (lanes in priority order), the jobs not done yet."""
    now = utcnow()
    table: dict[tuple[str, str], dict] = {}
    for lane, kind, status, count, oldest in db.execute(
            select(Job.lane, Job.kind, Job.status, func.count(), func.min(Job.created_at))
            .where(Job.status.in_((PENDING, RUNNING, FAILED))).group_by(Job.lane, Job.kind, Job.status)):
        entry = table.setdefault((lane, kind), {PENDING: 0, RUNNING: 0, FAILED: 0, "retrying": 0, "oldest": None})
        entry[status] = count
        if status == PENDING:
            entry["oldest"] = (now - as_utc(oldest)).total_seconds()
    for lane, kind, count in db.execute(select(Job.lane, Job.kind, func.count())
                                        .where(Job.status == PENDING, Job.retries > 0).group_by(Job.lane, Job.kind)):
        table[(lane, kind)]["retrying"] = count
    order = {lane: i for i, lane in enumerate(LANES)}
    return [KindBacklog(lane, kind, e[PENDING], e[RUNNING], e[FAILED], e["retrying"], e["oldest"])
            for (lane, kind), e in sorted(table.items(), key=lambda item: (order.get(item[0][0], 99), item[0][1]))]


@dataclasses.dataclass(frozen=True)
class FailedJob:
    """A job that gave up, as the dashboard lists it."""

    job: Job
    subject: registry.Subject


def failed_jobs(db: Session, class_id: int | None = None) -> list[FailedJob]:
    """Failed jobs an instructor of ``class_id`` may see (their class's, and shared ones such as baselines); None: all."""
    shown = []
    for job in db.scalars(select(Job).where(Job.status == FAILED).order_by(Job.finished_at.desc(), Job.id.desc())):
        subject = _subject(db, job)
        if class_id is None or subject.class_id in (None, class_id):
            shown.append(FailedJob(job, subject))
        if len(shown) >= FAILED_SHOWN:
            break
    return shown


def retry(db: Session, job_id: int, class_id: int | None = None) -> Job:
    """An instructor's retry of a failed job: pending again from scratch, its subject reset by its kind."""
    job = db.get(Job, job_id)
    if job is None or (class_id is not None and _subject(db, job).class_id not in (None, class_id)):
        raise NotFound(f"there is no job {job_id}")
    if job.status != FAILED:
        raise Conflict("only a failed job can be retried; this one is " + job.status)
    _restart(db, job)
    return job


def retry_failed_of(db: Session, dataset_ids) -> int:
    """Restart the failed jobs whose subjects are ``dataset_ids`` (a dataset's baselines and references); how many."""
    from app.datasets.models import BASELINES_JOB, REFERENCES_JOB

    jobs = list(db.scalars(select(Job).where(Job.kind.in_((BASELINES_JOB, REFERENCES_JOB)),
                                             Job.subject_id.in_(list(dataset_ids)), Job.status == FAILED)))
    for job in jobs:
        _restart(db, job)
    return len(jobs)


def _restart(db: Session, job: Job) -> None:
    kind = registry.kind(job.kind)
    reset(db, job.id)
    if kind.retried is not None:
        kind.retried(db, job.subject_id)


def _subject(db: Session, job: Job) -> registry.Subject:
    kind = registry.KINDS.get(job.kind) or registry.kind(job.kind)
    return kind.describe(db, job.subject_id) if kind.describe else registry.Subject(f"{job.kind} {job.subject_id}")
