"""The job table: one row per piece of background work, the truth a runner recovers from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

# Job.status values: waiting (possibly until run_after), leased by a runner, finished, given up.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: Statuses of a job a runner still has to finish.
UNFINISHED = (PENDING, RUNNING)


class Job(Base):
    """A kind of work (app.jobs.registry) on one subject row (an action, a dataset, a branch, a grade post)."""

    __tablename__ = "jobs"
    __table_args__ = (
        # One job per kind and subject: enqueueing twice (a double click, two web processes) adds nothing.
        UniqueConstraint("kind", "subject_id", name="uq_jobs_kind_subject_id"),
        Index("ix_jobs_claim", "status", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[int] = mapped_column(Integer)
    #: The kind's lane (app.jobs.lanes) and its position: lower priorities are leased first.
    lane: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    #: Starts so far; a start whose runner died (killed, out of memory) stays counted.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Transient failures so far (database busy or unreachable, broker down), each retried after a back-off.
    retries: Mapped[int] = mapped_column(Integer, default=0)
    #: A pending job is not leased before this time (the back-off after a transient failure).
    run_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Who holds the lease ("host:pid:slot") and its last sign of life; a stale one means it died.
    leased_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Scaled-out mode: when the job was last handed to the broker, and the queue it went to.
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dispatched_queue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
