"""The branch job: the automatic player continues a player's run from one of its checkpoints.

Run by every runner like the baselines (embedded thread or process, Celery worker). The branch is
played in memory by engine.branches and stored at the end as a bot run pointing at its parent run
and epoch; a job whose process dies is taken over once its heartbeat is stale and played again from
the start (the bot is deterministic, and the checkpoint is kept until the branch is stored).
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.bots.player import bot_student
from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.db.throttle import Throttle
from app.debrief import planning
from app.debrief.planning import unsent_branches_of
from app.debrief.models import DONE, FAILED, PENDING, RUNNING, BranchRecord
from app.errors import JobCancelled
from app.runs.models import ENDED, ActionRecord, CheckpointRecord, EpochRecord, Run
from engine import branches as engine_branches
from engine.bots import RuleBasedBot
from engine.numbers import finite

log = logging.getLogger(__name__)

#: Defaults of the job's recovery rules (the runners pass the settings' values).
STALE_AFTER_SECONDS = 60.0
MAX_ATTEMPTS = 3
#: Progress and heartbeat are written at most this often (and at every epoch's end).
WRITE_EVERY_SECONDS = 1.0


def _claimable(cutoff: dt.datetime):
    """SQL condition: not started, or started by a process that stopped reporting (it died)."""
    return or_(BranchRecord.status == PENDING,
               and_(BranchRecord.status == RUNNING,
                    or_(BranchRecord.heartbeat_at.is_(None), BranchRecord.heartbeat_at < cutoff)))


def claim_branch(db: Session, branch_id: int, stale_after: float, max_attempts: int) -> bool:
    """Atomically take a branch for this process; False when it is done, taken by a live process, or given up."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after)
    claimed = db.execute(
        update(BranchRecord)
        .where(BranchRecord.id == branch_id, BranchRecord.attempts < max_attempts, _claimable(cutoff))
        .values(status=RUNNING, attempts=BranchRecord.attempts + 1, heartbeat_at=now, epochs_done=0, error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        return True
    # Every earlier start died with its process (out of memory, killed): stop trying.
    db.execute(
        update(BranchRecord)
        .where(BranchRecord.id == branch_id, BranchRecord.attempts >= max_attempts, _claimable(cutoff))
        .values(status=FAILED, finished_at=now, error="the branch stopped its trainer too many times")
        .execution_options(synchronize_session=False)
    )
    return False


def branch_start(db: Session, branch: BranchRecord) -> engine_branches.BranchStart:
    """Where the branch starts: the player's checkpoint at its epoch, with the counters of that moment."""
    epoch = db.scalar(select(EpochRecord).where(EpochRecord.run_id == branch.run_id, EpochRecord.reverted.is_(False),
                                                EpochRecord.number == branch.from_epoch))
    blob = None if epoch is None else db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == epoch.checkpoint_id))
    if blob is None:
        raise LookupError(f"the checkpoint of epoch {branch.from_epoch} is no longer kept")
    action_index = db.scalar(select(ActionRecord.index).where(ActionRecord.id == epoch.action_id))
    # The player's best so far when that epoch was trained: reverted epochs trained before it count too.
    trained_before = db.scalars(select(EpochRecord.val_acc).join(ActionRecord, ActionRecord.id == EpochRecord.action_id)
                                .where(EpochRecord.run_id == branch.run_id, EpochRecord.diverged.is_(False),
                                       ActionRecord.index <= action_index))
    best = max(trained_before, default=None)
    metrics = {"train_loss": epoch.train_loss, "train_acc": epoch.train_acc, "val_loss": epoch.val_loss,
               "val_acc": epoch.val_acc}
    return engine_branches.BranchStart(branch.from_epoch, bytes(blob), action_index, best, metrics)


class _Reporter:
    """Writes the branch's epochs done and a heartbeat; forwards progress to the parent run's live pages."""

    def __init__(self, session_factory: sessionmaker, branch_id: int, run_id: int, forward) -> None:
        self.session_factory, self.branch_id, self.run_id, self.forward = session_factory, branch_id, run_id, forward
        self.epochs = 0
        self._throttle = Throttle(WRITE_EVERY_SECONDS)

    def batch(self, done: int, total: int) -> None:
        """Per-batch callback of the training loop."""
        if self.forward:
            self.forward(self.run_id, done, total)  # may raise JobCancelled
        self._write(force=False)

    def outcome(self, outcome) -> None:
        """Called after each of the branch's actions."""
        if outcome.kind in ("initial", "continue"):
            self.epochs += 1
        self._write(force=True)

    def _write(self, force: bool) -> None:
        if not self._throttle.due(force):
            return
        with self.session_factory() as db:
            db.execute(update(BranchRecord).where(BranchRecord.id == self.branch_id)
                       .values(epochs_done=self.epochs, heartbeat_at=utcnow()))
            db.commit()


def compute_branch(session_factory: sessionmaker, branch_id: int, device: str = "cpu", progress=None,
                   stale_after: float = STALE_AFTER_SECONDS, max_attempts: int = MAX_ATTEMPTS) -> None:
    """Play and store one branch (once). ``progress(run_id, done, total)`` may raise JobCancelled to stop it."""
    with session_factory() as db:
        if not claim_branch(db, branch_id, stale_after, max_attempts):
            db.commit()
            return
        branch = db.get(BranchRecord, branch_id)
        run = db.get(Run, branch.run_id)
        dataset = db.get(DatasetRecord, run.dataset_id)
        try:
            start = branch_start(db, branch)
        except LookupError as exc:
            branch.status, branch.error, branch.finished_at = FAILED, str(exc), utcnow()
            db.commit()
            return
        if branch.bot_run_id is not None:  # an earlier attempt stored part of it: play it again from the start
            db.execute(delete(Run).where(Run.id == branch.bot_run_id))
            branch.bot_run_id = None
        branch.epochs_total = start.epochs_left
        db.commit()
        run_id, family, seed, size = run.id, dataset.family, dataset.seed, dataset.size
    if progress:
        progress(run_id, 0, 0)
    reporter = _Reporter(session_factory, branch_id, run_id, progress)
    try:
        data = datasets.placed(family, seed, size, device)
        played = engine_branches.play_branch(start, datasets.generated(family, seed, size), RuleBasedBot(), device,
                                             data=data, progress=reporter.batch, on_outcome=reporter.outcome)
    except (JobCancelled, KeyboardInterrupt, SystemExit):
        _release(session_factory, branch_id)
        raise
    except Exception as exc:  # the result page shows the failure instead of waiting forever
        log.exception("branch %s failed", branch_id)
        with session_factory() as db:
            db.execute(update(BranchRecord).where(BranchRecord.id == branch_id)
                       .values(status=FAILED, error=str(exc)[:2000], finished_at=utcnow()))
            db.commit()
        return
    store_branch(session_factory, branch_id, played)
    if progress:
        progress(run_id, -1, -1)


def store_branch(session_factory: sessionmaker, branch_id: int, played: engine_branches.Branch) -> None:
    """Store a played branch as a bot run (actions, epochs) and mark the job done, in one transaction."""
    with session_factory() as db:
        branch = db.get(BranchRecord, branch_id)
        parent = db.get(Run, branch.run_id)
        policy = RuleBasedBot()
        bot = bot_student(db, policy)
        last = played.outcomes[-1] if played.outcomes else None
        run = Run(student_pk=bot.id, dataset_id=parent.dataset_id, seed=parent.seed, status=ENDED,
                  initial_config=dict(parent.initial_config), config=(last.config.as_dict() if last else {}),
                  epoch=last.epoch if last else branch.from_epoch, actions_used=last.action if last else 0,
                  best_val_acc=played.best_val_acc, end_reason=last.end_reason if last else None,
                  parent_run_id=parent.id, parent_epoch=branch.from_epoch, ended_at=utcnow())
        db.add(run)
        db.flush()
        for move, outcome, shown, reverted in played.records():
            action = ActionRecord(run_id=run.id, index=outcome.action, kind=move.kind, choices=move.change_map,
                                  shown=shown, status="done", attempts=1, finished_at=utcnow())
            db.add(action)
            db.flush()
            if outcome.kind in ("initial", "continue") and outcome.metrics is not None:
                m = outcome.metrics
                db.add(EpochRecord(run_id=run.id, action_id=action.id, number=outcome.epoch, config=outcome.config.as_dict(),
                                   train_loss=finite(m.train_loss), train_acc=m.train_acc,
                                   val_loss=finite(m.val_loss), val_acc=m.val_acc, diverged=m.diverged,
                                   seconds=m.seconds, change=outcome.change.as_dict() if outcome.change else None,
                                   reverted=reverted))
        branch.bot_run_id = run.id
        branch.status, branch.finished_at = DONE, utcnow()
        branch.start_val_acc, branch.start_val_loss = played.start_val_acc, finite(played.start_val_loss)
        branch.epochs_done = played.epochs_trained
        db.flush()
        # A player who already started another run will pick no more branches on this one.
        moved_on = db.scalar(select(Run.id).where(Run.student_pk == parent.student_pk, Run.id > parent.id,
                                                  Run.parent_run_id.is_(None)).limit(1)) is not None
        planning.release_if_finished(db, parent, moving_on=moved_on)
        db.commit()


def _release(session_factory: sessionmaker, branch_id: int) -> None:
    """Give an interrupted branch back (pending), so the next runner starts it without waiting for a stale heartbeat."""
    try:
        with session_factory() as db:
            db.execute(update(BranchRecord).where(BranchRecord.id == branch_id, BranchRecord.status == RUNNING)
                       .values(status=PENDING, epochs_done=0, attempts=BranchRecord.attempts - 1))
            db.commit()
    except Exception:  # the database may be what failed; the stale heartbeat frees it later anyway
        log.warning("could not release branch %s", branch_id)


def pending_branches(db: Session, stale_after: float = STALE_AFTER_SECONDS) -> list[int]:
    """Branches waiting for a runner, or left running by a process that died."""
    cutoff = utcnow() - dt.timedelta(seconds=stale_after)
    return list(db.scalars(select(BranchRecord.id).where(_claimable(cutoff)).order_by(BranchRecord.id)))


def requeue_interrupted(db: Session) -> int:
    """Mark every running branch pending again: for a single-process runner starting up, none can be alive."""
    return db.execute(update(BranchRecord).where(BranchRecord.status == RUNNING)
                      .values(status=PENDING, epochs_done=0)).rowcount


def branches_planned_by(session_factory: sessionmaker, action_id: int) -> list[int]:
    """Branches never started of the run an action belongs to (an epoch that ended the run planned them)."""
    with session_factory() as db:
        run_id = db.scalar(select(ActionRecord.run_id).where(ActionRecord.id == action_id))
        return [] if run_id is None else unsent_branches_of(db, run_id)
