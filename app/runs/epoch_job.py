"""The epoch job: what a runner does with a queued action (train its epoch, or measure the test accuracy).

The request side (app.runs.service) records actions and queues them; every runner (the embedded
thread and process runners, Celery workers) calls ``execute_action`` here. It is the only place
of the web app where torch runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.db.throttle import Throttle
from app.errors import JobCancelled
from app.runs.models import (ACTION_DONE, ACTION_FAILED, ACTION_QUEUED, ACTION_RUNNING, ENDED, FAILED, READY, TRAINING,
                             ActionRecord, CheckpointRecord, EpochRecord,
                             Run)
from app.runs.service import (TRAINING_KINDS, apply_counters, counters_of, end_run, initial_checkpoint_id,
                              needs_test_accuracy, prune_checkpoints)
from engine import checkpoint, play
from engine.numbers import finite
from engine.config import HyperParams
from engine.session import continue_training
from engine.training import evaluate, new_state

log = logging.getLogger(__name__)

ProgressSink = Callable[[int, int, int], None]  # (run_id, batches done, batches total)


def record_test_accuracy(db: Session, run: Run, device: str = "cpu") -> None:
    """Store the hidden test accuracy of the run's best checkpoint (players see it only if allowed)."""
    if not needs_test_accuracy(run):
        return
    blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == run.best_checkpoint_id))
    if blob is None:
        return
    dataset = db.get(DatasetRecord, run.dataset_id)
    data = datasets.placed(dataset.family, dataset.seed, dataset.size, device)
    state = checkpoint.from_bytes(blob, device)
    _, run.test_acc = evaluate(state.network, data.test_x, data.test_y)




# ----------------------------------------------------------------------------- the epoch job


#: Defaults of the job's recovery rules (settings override them; see Settings.stale_after_seconds).
STALE_AFTER_SECONDS = 60.0
MAX_ATTEMPTS = 3


def _claimable(stale_cutoff):
    """SQL condition: queued, or 'running' by a runner that stopped reporting (it died)."""
    return or_(
        ActionRecord.status == ACTION_QUEUED,
        and_(ActionRecord.status == ACTION_RUNNING, or_(ActionRecord.heartbeat_at.is_(None), ActionRecord.heartbeat_at < stale_cutoff)),
    )


def claim_action(db: Session, action_id: int, stale_after: float, max_attempts: int, device: str = "cpu") -> bool:
    """Atomically take an action's epoch for this runner; False if it is done, taken, or gave up.

    One conditional UPDATE, so two workers handed the same action (a redelivery, a resend by
    the reconciler) cannot both train it: the database decides who won.
    """
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after)
    claimed = db.execute(
        update(ActionRecord)
        .where(ActionRecord.id == action_id, ActionRecord.attempts < max_attempts, _claimable(cutoff))
        .values(status=ACTION_RUNNING, attempts=ActionRecord.attempts + 1, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        return True
    # Out of attempts: every earlier start died with its runner (e.g. out of memory). Stop here.
    gave_up = db.execute(
        update(ActionRecord)
        .where(ActionRecord.id == action_id, ActionRecord.attempts >= max_attempts, _claimable(cutoff))
        .values(status=ACTION_FAILED, finished_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if gave_up:
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        end_run(db, run, "stopped: an epoch kept crashing its trainer", debrief=False)
        run.status = FAILED
        record_test_accuracy(db, run, device)
        run.error = (
            f"Training this epoch stopped its trainer {action.attempts} times (for example by running out of memory), "
            "so this run has ended. Your best network so far is kept."
        )
        prune_checkpoints(db, run)
    return False


@dataclasses.dataclass(frozen=True)
class _Epoch:
    """What training one claimed epoch needs, read in one transaction."""

    run_id: int
    dataset: tuple[str, int, str]  # family, seed, size
    blob: bytes
    changes: dict[str, str]


def execute_action(
    session_factory: sessionmaker,
    action_id: int,
    progress: ProgressSink | None = None,
    device: str = "cpu",
    stale_after: float = STALE_AFTER_SECONDS,
    max_attempts: int = MAX_ATTEMPTS,
    served_by: str | None = None,
) -> None:
    """Train the epoch of a queued Continue (or initial) action: the one job every runner calls.

    Idempotent: a done, failed or currently trained action is left alone, and the epoch row is
    unique per action, so a second delivery of the same job adds nothing. ``served_by`` is the
    own queue of the worker running it, where the run's next epoch is sent (its data is there).
    Done, and a Revert that used the last action, come here too: their job measures the test accuracy.
    """
    epoch = _begin(session_factory, action_id, progress, device, stale_after, max_attempts)
    if epoch is None:
        return
    try:
        state, metrics, change = _train(session_factory, action_id, epoch, progress, device)
        new_blob = checkpoint.to_bytes(state)
    except JobCancelled:
        raise  # the action stays "running" and is trained again when a runner starts
    except Exception as exc:  # the player must see a message, never a stuck page
        log.exception("epoch of action %s failed", action_id)
        _fail_action(session_factory, action_id, f"training failed: {exc}")
        _notify(progress, epoch.run_id)
        return
    try:
        _record_epoch(session_factory, action_id, state, metrics, change, new_blob, device, served_by)
    except IntegrityError:
        # Another runner finished the same action first (we were presumed dead): its epoch stands.
        log.warning("action %s was already trained by another runner; this result is dropped", action_id)
    _notify(progress, epoch.run_id)


def _notify(progress: ProgressSink | None, run_id: int) -> None:
    """Tell the live pages the job is over (done = total = -1)."""
    if progress:
        progress(run_id, -1, -1)


def _begin(session_factory: sessionmaker, action_id: int, progress: ProgressSink | None, device: str,
           stale_after: float, max_attempts: int) -> _Epoch | None:
    """Claim the action and read what its epoch needs; None when there is no epoch to train (now or any more)."""
    with session_factory() as db:
        if db.scalar(select(EpochRecord.id).where(EpochRecord.action_id == action_id)) is not None:
            db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(status=ACTION_DONE))
            db.commit()
            return None
        if not claim_action(db, action_id, stale_after, max_attempts, device):
            db.commit()  # a give-up is recorded
            return None
        action = db.get(ActionRecord, action_id)
        run = db.get(Run, action.run_id)
        if action.kind not in TRAINING_KINDS:
            # The run has ended and only its test accuracy is left to measure, here rather than in
            # the request that ended it.
            record_test_accuracy(db, run, device)
            action.status, action.finished_at = ACTION_DONE, utcnow()
            db.commit()
            _notify(progress, run.id)
            return None
        dataset = db.get(DatasetRecord, run.dataset_id)
        checkpoint_id = run.current_checkpoint_id or initial_checkpoint_id(db, run)
        if checkpoint_id is None:  # the run's first epoch: its untrained network is built (and kept for Revert) here
            blob = _store_initial_checkpoint(db, run, dataset)
        else:
            blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == checkpoint_id))
        run.status = TRAINING
        run.progress_done, run.progress_total = 0, 0
        db.commit()
        epoch = _Epoch(run.id, (dataset.family, dataset.seed, dataset.size), blob,
                       {} if action.kind == "initial" else dict(action.choices))
    if progress:
        progress(epoch.run_id, 0, 0)
    return epoch


def _train(session_factory: sessionmaker, action_id: int, epoch: _Epoch, progress: ProgressSink | None, device: str):
    """Train the epoch from its checkpoint, reporting progress (and a heartbeat) as it goes."""
    throttle = Throttle(0.3)

    def on_batch(done: int, total: int) -> None:
        if throttle.due() or done == total:
            with session_factory() as progress_db:
                progress_db.execute(update(Run).where(Run.id == epoch.run_id).values(progress_done=done, progress_total=total))
                progress_db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(heartbeat_at=utcnow()))
                progress_db.commit()
        if progress:
            progress(epoch.run_id, done, total)  # may raise JobCancelled when the runner stops

    data = datasets.placed(*epoch.dataset, device)
    state = checkpoint.from_bytes(epoch.blob, device)
    return continue_training(state, epoch.changes, data, on_batch)


def _store_initial_checkpoint(db: Session, run: Run, dataset: DatasetRecord) -> bytes:
    """Checkpoint 0 of a run: its network as configured, before any training (Revert's way back to the start)."""
    state = new_state(datasets.generated(dataset.family, dataset.seed, dataset.size),
                      HyperParams.from_dict(run.initial_config), run.seed)
    blob = checkpoint.to_bytes(state)
    db.add(CheckpointRecord(run_id=run.id, epoch_number=0, data=blob, size_bytes=len(blob)))
    db.flush()
    return blob


def _record_epoch(session_factory: sessionmaker, action_id: int, state, metrics, change, new_blob: bytes,
                  device: str = "cpu", served_by: str | None = None) -> None:
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
        if run.status == ENDED:  # by a limit
            record_test_accuracy(db, run, device)
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
