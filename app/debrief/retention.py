"""Which checkpoints a player's run keeps for its debrief, and turning its database rows into engine steps.

Revert reaches only the last six checkpoints, but a branch may start from any kept epoch of the
run's path (engine.debrief.kept_epochs: the best, the epoch before the biggest fall, every fifth
epoch). Those stay stored while the run is played and, once it has ended, until its debrief is
released (every branch the player may ask for is computed, or the player started another run).
"""

from __future__ import annotations


from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import BOT_ROLE, Student
from app.runs.models import ENDED, FAILED, ActionRecord, EpochRecord, Run
from engine import debrief
from engine.config import HyperParams
from engine.numbers import finite
from engine.actions import trains_an_epoch



def is_player_run(db: Session, run: Run) -> bool:
    """A human player's own run (not a bot's, not a branch): the only kind that gets a debrief."""
    if run.parent_run_id is not None:
        return False
    return db.scalar(select(Student.role).where(Student.id == run.student_pk)) != BOT_ROLE


def epoch_point(epoch: EpochRecord) -> debrief.EpochPoint:
    """One stored epoch as the engine's debrief sees it."""
    grown = tuple(s["knob"] for s in (epoch.change or {}).get("steps", []) if s.get("direction") == "up")
    return debrief.EpochPoint(
        number=epoch.number, train_loss=finite(epoch.train_loss), train_acc=finite(epoch.train_acc),
        val_loss=finite(epoch.val_loss), val_acc=finite(epoch.val_acc), diverged=bool(epoch.diverged),
        config=HyperParams.from_dict(epoch.config), grown=grown,
    )


def run_steps(db: Session, run: Run) -> list[debrief.Step]:
    """The run's actions in order, each with the epoch it trained."""
    actions = db.scalars(select(ActionRecord).where(ActionRecord.run_id == run.id).order_by(ActionRecord.index))
    epochs = {e.action_id: e for e in db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id))}
    steps = []
    for action in actions:
        epoch = epochs.get(action.id)
        if trains_an_epoch(action.kind) and epoch is None:
            continue  # a failed or not yet trained epoch: nothing happened to the network
        steps.append(debrief.Step(action.kind, epoch_point(epoch) if epoch is not None else None))
    return steps


def kept_checkpoint_ids(db: Session, run: Run, path: list[EpochRecord]) -> set[int]:
    """Checkpoints of ``path`` (the run's current path) its debrief still needs; empty when it needs none."""
    if run.status in (ENDED, FAILED) and not run.debrief_open:
        return set()
    if not path or not is_player_run(db, run):
        return set()
    wanted = debrief.kept_epochs([epoch_point(e) for e in path])
    return {e.checkpoint_id for e in path if e.number in wanted and e.checkpoint_id is not None}
