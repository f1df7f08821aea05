"""Reading and running background jobs (app.jobs) from a test."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.jobs.executor import Executor
from app.jobs.keeper import LeaseKeeper
from app.jobs.lanes import LANES
from app.jobs.lease import holder_id
from app.jobs.models import Job
from app.runs.models import EPOCH_JOB, ActionRecord
from app.settings import Settings
from tests.services import wait_for


def job_of(db: Session, kind: str, subject_id: int) -> Job | None:
    """The job of ``kind`` on ``subject_id``."""
    return db.scalar(select(Job).where(Job.kind == kind, Job.subject_id == subject_id))


def epoch_jobs(db: Session, run_id: int) -> list[Job]:
    """The epoch jobs of a run's actions, oldest first."""
    return list(db.scalars(select(Job).join(ActionRecord, ActionRecord.id == Job.subject_id)
                           .where(Job.kind == EPOCH_JOB, ActionRecord.run_id == run_id).order_by(Job.id)))


def _once_done(session_factory: sessionmaker, read, timeout: float, what: str) -> Job:
    """The job ``read(db)`` finds, once it is marked done (a job commits its effect a moment before it closes its row)."""

    def finished() -> Job | None:
        with session_factory() as db:
            job = read(db)
            return job if job is not None and job.status == "done" else None

    return wait_for(finished, timeout, what, [])


def finished_epoch_job(session_factory: sessionmaker, run_id: int, timeout: float = 30) -> Job:
    """A run's only epoch job once it is marked done: the run shows the epoch ("ready") just before."""

    def only_epoch_job(db: Session) -> Job:
        (job,) = epoch_jobs(db, run_id)
        return job

    return _once_done(session_factory, only_epoch_job, timeout, "the epoch job to be marked done")


def finished_job_of(session_factory: sessionmaker, kind: str, subject_id: int, timeout: float = 30) -> Job:
    """The job of ``kind`` on ``subject_id`` once it is marked done."""
    return _once_done(session_factory, lambda db: job_of(db, kind, subject_id), timeout,
                      f"the {kind} job on {subject_id} to be marked done")


def test_executor(session_factory: sessionmaker, settings: Settings, lanes=LANES, slot: str = "test") -> Executor:
    """An executor in the test's own process, as any runner has (no threads of its own)."""
    return Executor(session_factory, settings, "cpu", lanes, holder_id(slot), LeaseKeeper(session_factory, 1.0))


test_executor.__test__ = False  # a helper, not a test
