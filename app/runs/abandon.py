"""Runs a player left: ended as abandoned when they start another run, or after the class's idle timeout.

Without an end, a pool run a student left for a scenario link (or closed the tab on) would count
as "in progress" on the dashboard for ever. An abandoned run keeps its epochs and its best
checkpoint (instructors can replay it), but it is not finished: it is on no leaderboard, gets no
debrief branches and no grade. A run whose epoch is queued or training is left alone: it gets its
end at the next chance, once the epoch is in.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.classroom.models import ClassSettings
from app.classroom.service import in_class
from app.db.base import utcnow
from app.runs.models import ABANDONED, CONFIGURING, READY, CheckpointRecord, Run

#: Statuses a run can be abandoned from: waiting for the player (its configuration, or the next action).
IDLE = (CONFIGURING, READY)
FOR_ANOTHER_RUN = "abandoned: the player started another run"


def idle_reason(minutes: int) -> str:
    """The end reason of a run closed by the class's timeout."""
    return f"abandoned: no action for {minutes} minutes"


def abandon(db: Session, run: Run, reason: str) -> None:
    """End ``run`` as abandoned: its best checkpoint is kept, every other is deleted."""
    run.status = ABANDONED
    run.end_reason = reason
    run.ended_at = run.updated_at = utcnow()
    run.debrief_open = False
    db.execute(delete(CheckpointRecord).where(CheckpointRecord.run_id == run.id,
                                              CheckpointRecord.id != (run.best_checkpoint_id or -1)))


def abandon_others(db: Session, student_pk: int, keep_run_id: int | None = None) -> list[int]:
    """The player started a run: their other runs still waiting for them are abandoned; returns their ids."""
    query = select(Run).where(Run.student_pk == student_pk, Run.status.in_(IDLE), Run.parent_run_id.is_(None))
    if keep_run_id is not None:
        query = query.where(Run.id != keep_run_id)
    runs = list(db.scalars(query))
    for run in runs:
        abandon(db, run, FOR_ANOTHER_RUN)
    return [run.id for run in runs]


def abandon_idle(db: Session, row: ClassSettings, now: dt.datetime | None = None) -> list[int]:
    """The class's players' runs with no action for ``row.abandon_after_minutes`` are abandoned; returns their ids.

    0 minutes turns the timeout off (runs then end only when their player starts another).
    """
    minutes = row.abandon_after_minutes or 0
    if minutes <= 0:
        return []
    cutoff = (now or utcnow()) - dt.timedelta(minutes=minutes)
    runs = list(db.scalars(
        select(Run).join(Student, Student.id == Run.student_pk)
        .where(Run.status.in_(IDLE), Run.parent_run_id.is_(None), Run.updated_at < cutoff, is_human(),
               in_class(Student.class_id, row.id))
    ))
    for run in runs:
        abandon(db, run, idle_reason(minutes))
    return [run.id for run in runs]
