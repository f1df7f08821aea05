"""The branch job: the automatic player continues a player's run from one of its checkpoints.

Run by any runner's executor in the debrief lane (the player is looking at the result page). The
branch is played in memory by engine.branches and stored at the end as a bot run pointing at its
parent run and epoch; a job whose runner dies is run again from the start (the bot is
deterministic, and the checkpoint is kept until the branch is stored).
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Student
from app.bots.player import bot_student
from app.classroom.service import SETTINGS_ID
from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.debrief import planning
from app.debrief.models import BRANCH_JOB, DONE, FAILED, PENDING, RUNNING, BranchRecord
from app.errors import JobCancelled
from app.jobs.context import JobContext
from app.jobs.lanes import DEBRIEF
from app.jobs.registry import Subject, job_kind
from app.runs.models import ACTION_DONE, ENDED, ActionRecord, CheckpointRecord, EpochRecord, Run
from engine import branches as engine_branches
from engine.bots import RuleBasedBot
from engine.numbers import finite
from engine.actions import trains_an_epoch

log = logging.getLogger(__name__)

def _gave_up(db: Session, branch_id: int, error: str) -> None:
    db.execute(update(BranchRecord).where(BranchRecord.id == branch_id)
               .values(status=FAILED, error=error[:2000], finished_at=utcnow()))


def _retried(db: Session, branch_id: int) -> None:
    """The branch waits again (an instructor's retry, or its runner stopped): from the start."""
    db.execute(update(BranchRecord).where(BranchRecord.id == branch_id, BranchRecord.status != DONE)
               .values(status=PENDING, error=None, finished_at=None, epochs_done=0))


def _describe(db: Session, branch_id: int) -> Subject:
    row = db.execute(select(BranchRecord.from_epoch, Run.id, Student.name, Student.class_id)
                     .join(Run, Run.id == BranchRecord.run_id).join(Student, Student.id == Run.student_pk)
                     .where(BranchRecord.id == branch_id)).first()
    if row is None:
        return Subject(f"branch {branch_id} (deleted)")
    epoch, run_id, name, class_id = row
    return Subject(f"branch from epoch {epoch} of {name}'s run {run_id}", class_id or SETTINGS_ID)


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


class _Progress:
    """Writes the branch's epochs done; nudges the parent run's result page; yields between steps."""

    def __init__(self, ctx: JobContext, branch_id: int, run_id: int) -> None:
        self.ctx, self.branch_id, self.run_id = ctx, branch_id, run_id
        self.epochs = 0

    def batch(self, _done: int, _total: int) -> None:
        """Per-batch callback of the training loop."""
        self.ctx.publish(self.run_id, boundary=False)
        self.ctx.yield_point()  # may raise JobCancelled

    def outcome(self, outcome) -> None:
        """Called after each of the branch's actions."""
        if trains_an_epoch(outcome.kind):
            self.epochs += 1
        try:
            with self.ctx.session_factory() as db:
                db.execute(update(BranchRecord).where(BranchRecord.id == self.branch_id).values(epochs_done=self.epochs))
                db.commit()
        except Exception as exc:  # the database is busy: the progress waits for the next action
            log.debug("progress of branch %s not written: %s", self.branch_id, exc)
        self.ctx.publish(self.run_id)
        self.ctx.yield_point()


@job_kind(BRANCH_JOB, DEBRIEF, label="debrief branches", gave_up=_gave_up, retried=_retried, describe=_describe)
def branch_job(ctx: JobContext, branch_id: int) -> None:
    """Play and store one branch (once: a stored branch is left alone)."""
    with ctx.session_factory() as db:
        branch = db.get(BranchRecord, branch_id)
        if branch is None or branch.status == DONE:
            return
        run = db.get(Run, branch.run_id)
        dataset = db.get(DatasetRecord, run.dataset_id)
        try:
            start = branch_start(db, branch)
        except LookupError as exc:  # the checkpoint is gone: nothing to retry
            branch.status, branch.error, branch.finished_at = FAILED, str(exc), utcnow()
            db.commit()
            return
        if branch.bot_run_id is not None:  # an earlier attempt stored part of it: play it again from the start
            db.execute(delete(Run).where(Run.id == branch.bot_run_id))
            branch.bot_run_id = None
        branch.status, branch.error, branch.epochs_done = RUNNING, None, 0
        branch.epochs_total = start.epochs_left
        db.commit()
        run_id, family, seed, size = run.id, dataset.family, dataset.seed, dataset.size
    ctx.publish(run_id)
    progress = _Progress(ctx, branch_id, run_id)
    data = datasets.placed(family, seed, size, ctx.device)
    try:
        played = engine_branches.play_branch(start, datasets.generated(family, seed, size), RuleBasedBot(), ctx.device,
                                             data=data, progress=progress.batch, on_outcome=progress.outcome)
    except JobCancelled:
        with ctx.session_factory() as db:  # waiting again, from the start, for the next runner
            _retried(db, branch_id)
            db.commit()
        raise
    store_branch(ctx.session_factory, branch_id, played)
    ctx.publish(run_id)


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
                                  shown=shown, status=ACTION_DONE, finished_at=utcnow())
            db.add(action)
            db.flush()
            if trains_an_epoch(outcome.kind) and outcome.metrics is not None:
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
