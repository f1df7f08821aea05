"""Planning a run's branches: the default ones when it ends, one the player picks, and releasing its checkpoints.

Kept free of app.runs.service (which calls it when a run ends) so the two never import each other.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.debrief.models import BRANCH_JOB, PENDING, RUNNING, BranchRecord
from app.debrief.retention import epoch_point, is_player_run
from app.errors import Conflict, WebError
from app.jobs.queue import enqueue
from app.runs.models import CheckpointRecord, EpochRecord, Run
from engine import debrief, rules

#: Epochs the player may pick to branch from, besides the default branches (docs/instructors.md: "up to two more").
MAX_PICKS = 2
#: Branches one run may have: the defaults (best, before the biggest fall) and the player's picks.
MAX_BRANCHES = 2 + MAX_PICKS


def _path(db: Session, run: Run) -> list[EpochRecord]:
    return list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id, EpochRecord.reverted.is_(False))
                           .order_by(EpochRecord.number)))


def branchable_epochs(db: Session, run: Run) -> list[int]:
    """Path epochs a branch may start from now: kept checkpoint, not diverged, some budget left."""
    if not run.debrief_open:
        return []
    stored = set(db.scalars(select(CheckpointRecord.id).where(CheckpointRecord.run_id == run.id)))
    return [e.number for e in _path(db, run)
            if e.checkpoint_id in stored and not e.diverged and e.number < rules.MAX_EPOCHS]


def branches_of(db: Session, run: Run) -> list[BranchRecord]:
    """The run's branches, by starting epoch."""
    return list(db.scalars(select(BranchRecord).where(BranchRecord.run_id == run.id).order_by(BranchRecord.from_epoch)))


def open_debrief(db: Session, run: Run) -> list[BranchRecord]:
    """At the end of a player's run: keep its debrief checkpoints and plan the default branches (their jobs enqueued)."""
    if not is_player_run(db, run):
        return []
    run.debrief_open = True
    db.flush()
    points = [epoch_point(e) for e in _path(db, run)]
    allowed = set(branchable_epochs(db, run))
    planned = []
    for epoch, reason in debrief.branch_points(points):
        if epoch in allowed and len(planned) < MAX_BRANCHES:
            planned.append(BranchRecord(run_id=run.id, from_epoch=epoch, reason=reason, status=PENDING))
    db.add_all(planned)
    db.flush()
    for branch in planned:
        enqueue(db, BRANCH_JOB, branch.id)
    return planned


def request_branch(db: Session, run: Run, from_epoch: int) -> BranchRecord:
    """The player's pick on the result chart: a branch from ``from_epoch`` (4xx when it cannot be made)."""
    existing = db.scalar(select(BranchRecord).where(BranchRecord.run_id == run.id, BranchRecord.from_epoch == from_epoch))
    if existing is not None:
        return existing
    if not run.debrief_open:
        raise Conflict("this run's checkpoints are no longer kept, so no new branch can start from it")
    count = db.scalar(select(func.count()).select_from(BranchRecord).where(BranchRecord.run_id == run.id)) or 0
    if count >= MAX_BRANCHES or picks_made(db, run) >= MAX_PICKS:
        raise Conflict(f"you can pick at most {MAX_PICKS} epochs to branch from")
    allowed = branchable_epochs(db, run)
    if from_epoch not in allowed:
        shown = ", ".join(str(e) for e in allowed) or "none"
        raise WebError(f"epoch {from_epoch} has no kept checkpoint to branch from; choose one of: {shown}", 422)
    branch = BranchRecord(run_id=run.id, from_epoch=from_epoch, reason="picked", status=PENDING)
    db.add(branch)
    db.flush()
    enqueue(db, BRANCH_JOB, branch.id)
    return branch


def picks_made(db: Session, run: Run) -> int:
    """Branches the player picked (not the default ones)."""
    return db.scalar(select(func.count()).select_from(BranchRecord).where(
        BranchRecord.run_id == run.id, BranchRecord.reason == "picked")) or 0


def picks_left(db: Session, run: Run) -> int:
    """How many more epochs the player may pick to branch from now."""
    if not run.debrief_open:
        return 0
    total = db.scalar(select(func.count()).select_from(BranchRecord).where(BranchRecord.run_id == run.id)) or 0
    return max(0, min(MAX_PICKS - picks_made(db, run), MAX_BRANCHES - total))


def active_branches(db: Session, run_id: int) -> int:
    """Branches of the run still to be computed."""
    return db.scalar(select(func.count()).select_from(BranchRecord).where(
        BranchRecord.run_id == run_id, BranchRecord.status.in_((PENDING, RUNNING)))) or 0


def release_if_finished(db: Session, run: Run, moving_on: bool = False) -> bool:
    """Prune the run to its best checkpoint once no branch is left to compute and none can be asked for.

    ``moving_on``: the player started another run, so no further pick will come. True when released.
    """
    if not run.debrief_open or active_branches(db, run.id):
        return False
    if not moving_on and picks_left(db, run) and branchable_epochs(db, run):
        return False
    run.debrief_open = False
    db.execute(delete(CheckpointRecord).where(CheckpointRecord.run_id == run.id,
                                              CheckpointRecord.id != (run.best_checkpoint_id or -1)))
    return True


def release_earlier_debriefs(db: Session, student_pk: int) -> None:
    """A player who starts a new run is done picking branches on the earlier ones."""
    for run in db.scalars(select(Run).where(Run.student_pk == student_pk, Run.debrief_open.is_(True))):
        release_if_finished(db, run, moving_on=True)
