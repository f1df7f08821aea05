"""The epoch job: training the epoch of a player's Continue (or initial) action.

The request side (app.runs.service) records the action and enqueues this job; any runner's
executor runs it (app.jobs). The bot's driver (app.bots.player) calls ``train_action`` directly.
No database transaction is open while torch works: the action is read in one short transaction,
checkpoint 0 (a first epoch's untrained network) is built outside any, the epoch trains, and its
result is stored in one more.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Student
from app.classroom.service import SETTINGS_ID
from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.db.throttle import Throttle
from app.errors import JobCancelled
from app.jobs.context import JobContext
from app.jobs.executor import is_transient
from app.jobs.lanes import PLAYERS
from app.jobs.registry import Subject, job_kind
from app.runs.models import (ACTION_DONE, ACTION_FAILED, ACTION_RUNNING, ENDED, EPOCH_JOB, FAILED, READY, TRAINING,
                             ActionRecord, CheckpointRecord, EpochRecord, Run)
from app.runs.service import apply_counters, counters_of, end_run, initial_checkpoint_id, prune_checkpoints
from engine import checkpoint, play
from engine.config import HyperParams
from engine.numbers import finite
from engine.session import continue_training
from engine.training import new_state
from engine.actions import trains_an_epoch

log = logging.getLogger(__name__)

#: (run id, batches done, batches total): 0/0 when the epoch starts, -1/-1 once it is stored.
ProgressSink = Callable[[int, int, int], None]
#: How often, at most, the run's progress (for its page's bar) is written while an epoch trains.
PROGRESS_WRITE_SECONDS = 0.3


@dataclasses.dataclass(frozen=True)
class _Epoch:
    """What training one claimed epoch needs, read in one transaction."""

    run_id: int
    dataset: tuple[str, int, str]  # family, seed, size
    #: The checkpoint to continue from; None for a first epoch, whose checkpoint 0 is built first.
    blob: bytes | None
    changes: dict[str, str]
    initial: tuple[dict, int] | None  # (initial configuration, network seed) when the blob is None


def _gave_up(db: Session, action_id: int, error: str) -> None:
    """The epoch could not be trained at all (its trainer kept dying, or the database stayed away): the run ends."""
    action = db.get(ActionRecord, action_id)
    run = db.get(Run, action.run_id)
    action.status, action.finished_at = ACTION_FAILED, utcnow()
    if run.status in (ENDED, FAILED):
        return
    end_run(db, run, "stopped: an epoch could not be trained", debrief=False)
    run.status = FAILED
    run.error = (f"This epoch could not be trained ({error}), so this run has ended. "
                 "Your best network so far is kept.")[:2000]
    prune_checkpoints(db, run)


def _sticky_queue(db: Session, action_id: int) -> str | None:
    """The own queue of the worker that trained the run's latest epoch: its data is already there."""
    run_id = select(ActionRecord.run_id).where(ActionRecord.id == action_id).scalar_subquery()
    return db.scalar(select(ActionRecord.worker_queue)
                     .where(ActionRecord.run_id == run_id, ActionRecord.id != action_id, ActionRecord.worker_queue.is_not(None))
                     .order_by(ActionRecord.index.desc()).limit(1))


def _describe(db: Session, action_id: int) -> Subject:
    row = db.execute(select(ActionRecord.index, Run.id, Student.name, Student.class_id)
                     .join(Run, Run.id == ActionRecord.run_id).join(Student, Student.id == Run.student_pk)
                     .where(ActionRecord.id == action_id)).first()
    if row is None:
        return Subject(f"action {action_id} (deleted)")
    index, run_id, name, class_id = row
    return Subject(f"action {index} of {name}'s run {run_id}", class_id or SETTINGS_ID)


@job_kind(EPOCH_JOB, PLAYERS, label="players' epochs", gave_up=_gave_up, route=_sticky_queue, describe=_describe)
def epoch_job(ctx: JobContext, action_id: int) -> None:
    """Train the epoch of a player's action (idempotent: a trained action is left alone)."""

    def progress(run_id: int, done: int, total: int) -> None:
        ctx.publish(run_id, boundary=done <= 0 or done == total)
        if done > 0:
            ctx.yield_point()  # may raise JobCancelled when the runner stops

    train_action(ctx.session_factory, action_id, progress, ctx.device, served_by=ctx.served_by)


def train_action(session_factory: sessionmaker, action_id: int, progress: ProgressSink | None = None,
                 device: str = "cpu", served_by: str | None = None) -> None:
    """Train the epoch of a queued initial or Continue action and store it (nothing if it is already trained).

    A failure of the training itself (not of the database) is the player's to see: the action
    fails with the message and the network stays as it was, so they may act again. Database
    errors and JobCancelled propagate: the job is retried or released, and trains again.
    ``served_by`` is the own queue of the worker running it, where the run's next epoch is sent.
    """
    epoch = _begin(session_factory, action_id)
    if epoch is None:
        return
    if progress:
        progress(epoch.run_id, 0, 0)
    try:
        blob = epoch.blob if epoch.blob is not None else _store_initial_checkpoint(session_factory, epoch)
        state, metrics, change = _train(session_factory, epoch, blob, progress, device)
        new_blob = checkpoint.to_bytes(state)
    except JobCancelled:
        raise  # the action is trained again when a runner starts it again
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("epoch of action %s failed", action_id)  # the player sees a message, never a stuck page
        _fail_action(session_factory, action_id, f"training failed: {exc}")
        if progress:
            progress(epoch.run_id, -1, -1)
        return
    try:
        _record_epoch(session_factory, action_id, state, metrics, change, new_blob, served_by)
    except IntegrityError:
        # Another runner finished the same action first (this one was presumed dead): its epoch stands.
        log.warning("action %s was already trained by another runner; this result is dropped", action_id)
    if progress:
        progress(epoch.run_id, -1, -1)


def _begin(session_factory: sessionmaker, action_id: int) -> _Epoch | None:
    """Mark the action running and read what its epoch needs; None when it is trained already (or gone)."""
    with session_factory() as db:
        action = db.get(ActionRecord, action_id)
        if action is None or not trains_an_epoch(action.kind):
            return None
        if db.scalar(select(EpochRecord.id).where(EpochRecord.action_id == action_id)) is not None:
            action.status = ACTION_DONE
            db.commit()
            return None
        run = db.get(Run, action.run_id)
        dataset = db.get(DatasetRecord, run.dataset_id)
        checkpoint_id = run.current_checkpoint_id or initial_checkpoint_id(db, run)
        blob = None
        if checkpoint_id is not None:
            blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == checkpoint_id))
        action.status, action.started_at = ACTION_RUNNING, utcnow()
        run.status = TRAINING
        run.progress_done, run.progress_total = 0, 0
        db.commit()
        return _Epoch(run.id, (dataset.family, dataset.seed, dataset.size), None if blob is None else bytes(blob),
                      {} if action.kind == "initial" else dict(action.choices),
                      (dict(run.initial_config), run.seed) if blob is None else None)


def _store_initial_checkpoint(session_factory: sessionmaker, epoch: _Epoch) -> bytes:
    """Checkpoint 0 of a run: its network as configured, before any training (Revert's way back to the start).

    Built outside any transaction (a seeded build takes engine.rng's lock), stored in its own; an
    earlier attempt's stored checkpoint 0 is used instead of a second one.
    """
    config, seed = epoch.initial
    state = new_state(datasets.generated(*epoch.dataset), HyperParams.from_dict(config), seed)
    blob = checkpoint.to_bytes(state)
    with session_factory() as db:
        existing = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.run_id == epoch.run_id,
                                                                 CheckpointRecord.epoch_number == 0))
        if existing is not None:
            return bytes(existing)
        db.add(CheckpointRecord(run_id=epoch.run_id, epoch_number=0, data=blob, size_bytes=len(blob)))
        db.commit()
    return blob


def _train(session_factory: sessionmaker, epoch: _Epoch, blob: bytes, progress: ProgressSink | None, device: str):
    """Train the epoch from its checkpoint, writing its progress for the page's bar now and then."""
    throttle = Throttle(PROGRESS_WRITE_SECONDS)

    def on_batch(done: int, total: int) -> None:
        if throttle.due(done == total):
            _write_progress(session_factory, epoch.run_id, done, total)
        if progress:
            progress(epoch.run_id, done, total)  # may raise JobCancelled when the runner stops

    data = datasets.placed(*epoch.dataset, device)
    state = checkpoint.from_bytes(blob, device)
    return continue_training(state, epoch.changes, data, on_batch)


def _write_progress(session_factory: sessionmaker, run_id: int, done: int, total: int) -> None:
    """The batches done so far, for the progress bar; skipped when the database is busy (the bar just waits)."""
    try:
        with session_factory() as db:
            db.execute(update(Run).where(Run.id == run_id).values(progress_done=done, progress_total=total))
            db.commit()
    except Exception as exc:
        log.debug("progress of run %s not written: %s", run_id, exc)


def _record_epoch(session_factory: sessionmaker, action_id: int, state, metrics, change, new_blob: bytes,
                  served_by: str | None = None) -> None:
    """Store a trained epoch, its checkpoint and the run's new state in one transaction."""
    with session_factory() as db:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        saved = CheckpointRecord(run_id=run.id, epoch_number=state.epoch, data=new_blob, size_bytes=len(new_blob))
        db.add(saved)
        db.flush()
        epoch = EpochRecord(
            run_id=run.id,
            action_id=action.id,
            number=state.epoch,
            config=state.hparams.as_dict(),
            train_loss=finite(metrics.train_loss),
            train_acc=metrics.train_acc,
            val_loss=finite(metrics.val_loss),
            val_acc=metrics.val_acc,
            diverged=metrics.diverged,
            seconds=metrics.seconds,
            change=change.as_dict() if change else None,
            checkpoint_id=saved.id,
        )
        db.add(epoch)
        db.flush()  # the unique action_id is checked here, before the run is touched
        run.config = state.hparams.as_dict()
        run.current_checkpoint_id = saved.id
        counters = counters_of(run)
        if play.is_new_best(counters, metrics.val_acc, metrics.diverged):
            run.best_checkpoint_id = saved.id
        run.status = READY
        run.progress_done = run.progress_total
        apply_counters(db, run, play.after_epoch(counters, state.epoch, metrics.val_acc, metrics.diverged))
        action.status = ACTION_DONE
        action.finished_at = utcnow()
        action.worker_queue = served_by
        db.flush()
        prune_checkpoints(db, run)
        db.commit()


def _fail_action(session_factory: sessionmaker, action_id: int, message: str) -> None:
    """Record a failed epoch: the network is unchanged and the player may act again."""
    with session_factory() as db:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        action.status = ACTION_FAILED
        action.finished_at = utcnow()
        run.status = READY if run.epoch > 0 else FAILED
        run.error = message[:2000]
        db.commit()
