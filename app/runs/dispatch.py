"""Which actions a runner must (re)send or pick up: the queue's view of the actions table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.db.base import utcnow
from app.runs.models import ACTION_QUEUED, ACTION_RUNNING, ACTION_UNFINISHED, ActionRecord, Run


def _players_actions():
    """Actions of human players' runs: a bot's epochs are trained inside its baseline job, never queued."""
    return (
        select(ActionRecord.id)
        .join(Run, Run.id == ActionRecord.run_id)
        .join(Student, Student.id == Run.student_pk)
        .where(is_human())
    )


def pending_actions(db: Session) -> list[int]:
    """Actions queued or interrupted mid-epoch (e.g. the process died): to be run again."""
    return list(db.scalars(_players_actions().where(ActionRecord.status.in_(ACTION_UNFINISHED)).order_by(ActionRecord.id)))


def requeue_interrupted(db: Session) -> int:
    """Mark every 'running' action queued again: for a single-process runner starting up, none can be alive."""
    return db.execute(update(ActionRecord).where(ActionRecord.status == ACTION_RUNNING).values(status=ACTION_QUEUED)).rowcount


def actions_to_send(db: Session, stale_after: float, resend_after: float) -> list[int]:
    """Actions a scaled-out runner should (re)send: never sent, sent long ago and not started, or stale."""
    now = utcnow()
    unsent_or_lost = and_(
        ActionRecord.status == ACTION_QUEUED,
        or_(ActionRecord.dispatched_at.is_(None), ActionRecord.dispatched_at < now - dt.timedelta(seconds=resend_after)),
    )
    dead = and_(ActionRecord.status == ACTION_RUNNING, ActionRecord.heartbeat_at < now - dt.timedelta(seconds=stale_after))
    return list(db.scalars(_players_actions().where(or_(unsent_or_lost, dead)).order_by(ActionRecord.id)))


def mark_dispatched(db: Session, action_id: int, queue: str | None = None) -> None:
    """Remember that the action's epoch was just handed to the task queue (``queue``: a worker's own one)."""
    db.execute(update(ActionRecord).where(ActionRecord.id == action_id)
               .values(dispatched_at=utcnow(), dispatched_queue=queue))


def sticky_queue(db: Session, action_id: int) -> str | None:
    """The own queue of the worker that trained the latest epoch of this action's run, if any."""
    run_id = select(ActionRecord.run_id).where(ActionRecord.id == action_id).scalar_subquery()
    return db.scalar(select(ActionRecord.worker_queue)
                     .where(ActionRecord.run_id == run_id, ActionRecord.id != action_id, ActionRecord.worker_queue.is_not(None))
                     .order_by(ActionRecord.index.desc()).limit(1))


def waiting_on_own_queues(db: Session) -> list[tuple[int, str]]:
    """(action, queue) of queued actions sent to a worker's own queue and not started yet."""
    return list(db.execute(_players_actions().add_columns(ActionRecord.dispatched_queue)
                           .where(ActionRecord.status == ACTION_QUEUED, ActionRecord.dispatched_queue.is_not(None))).tuples())
