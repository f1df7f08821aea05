"""What the debrief shows for one ended run: findings, branches beside the player's curve, reference players."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.models import DatasetRecord
from app.debrief import planning
from app.debrief.models import DONE, FAILED, PENDING, RUNNING, BranchRecord
from app.debrief.retention import run_steps
from app.runs.info import INFO
from app.runs.models import EpochRecord, Run
from engine import debrief, regret

REASON_LABELS = {"best": "your best epoch", "before_drop": "just before your biggest fall", "picked": "your pick"}
#: The reference players beside the player, in the order the table shows them.
REFERENCE_LABELS = {
    "you": "You",
    "oracle": "Best fixed schedule (oracle)",
    "bot": "Automatic player",
    "default": "Default schedule",
    "random": "Random player",
}


def training_curve(epochs: list[EpochRecord]) -> list[float | None]:
    """Validation accuracy of every trained epoch in training order (reverted ones too: they cost an epoch)."""
    return [None if e.diverged else e.val_acc for e in epochs]


def _epochs(db: Session, run_id: int) -> list[EpochRecord]:
    return list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id).order_by(EpochRecord.id)))


def branch_view(db: Session, branch: BranchRecord, player_score: float | None) -> dict:
    """One branch: its job state and, once played, its curve from the player's checkpoint and its score."""
    view = {
        "id": branch.id, "from_epoch": branch.from_epoch, "reason": branch.reason,
        "reason_label": REASON_LABELS.get(branch.reason, branch.reason), "status": branch.status,
        "epochs_done": branch.epochs_done, "epochs_total": branch.epochs_total, "error": branch.error,
        "start_val_acc": branch.start_val_acc, "curve": [], "best_val_acc": None, "gain": None, "bot_run_id": branch.bot_run_id,
    }
    if branch.status != DONE or branch.bot_run_id is None:
        return view
    bot_run = db.get(Run, branch.bot_run_id)
    path = [e for e in _epochs(db, branch.bot_run_id) if not e.reverted]
    view["curve"] = [{"epoch": branch.from_epoch, "val_acc": branch.start_val_acc}] + [
        {"epoch": e.number, "val_acc": None if e.diverged else e.val_acc} for e in path]
    view["best_val_acc"] = bot_run.best_val_acc if bot_run else None
    view["end_reason"] = bot_run.end_reason if bot_run else None
    if view["best_val_acc"] is not None and player_score is not None:
        view["gain"] = view["best_val_acc"] - player_score
    return view


def reference_rows(db: Session, run: Run, dataset: DatasetRecord, player_curve: list) -> dict:
    """Score, reference-normalised score, regret and area per epoch for the player and each reference player."""
    stored = dataset.reference_curves or {}
    curves: dict[str, list] = {"you": player_curve}
    if dataset.oracle_schedule and dataset.oracle_schedule in stored.get("schedules", {}):
        curves["oracle"] = stored["schedules"][dataset.oracle_schedule]
    if dataset.bot_run_id is not None:
        curves["bot"] = training_curve(_epochs(db, dataset.bot_run_id))
    if stored.get("default"):
        curves["default"] = stored["default"]
    if stored.get("random"):
        curves["random"] = stored["random"]
    rows = []
    for row in regret.regret_table(curves, dataset.baseline_oracle):
        label = REFERENCE_LABELS[row.name]
        if row.name == "oracle":
            label += f": {dataset.oracle_schedule}"
        rows.append({
            "name": row.name, "label": label, "score": row.score, "regret": row.regret, "area": row.area,
            "epochs": len(curves[row.name]),
            "normalised": regret.reference_normalised(row.score, dataset.baseline_random, dataset.baseline_oracle),
        })
    return {"status": dataset.references_status, "rows": rows, "random": dataset.baseline_random,
            "oracle": dataset.baseline_oracle, "oracle_schedule": dataset.oracle_schedule}


def debrief_view(db: Session, run: Run) -> dict:
    """Everything the result page's debrief shows (also served as JSON for the live chart)."""
    dataset = db.get(DatasetRecord, run.dataset_id)
    epochs = _epochs(db, run.id)
    findings = [{**f.as_dict(), "definition": INFO.get(f.concept)} for f in debrief.findings(run_steps(db, run))]
    path = [e for e in epochs if not e.reverted]
    branches = planning.branches_of(db, run)
    branch_views = [branch_view(db, b, run.best_val_acc) for b in branches]
    taken = {b.from_epoch for b in branches}
    return {
        "run_id": run.id,
        "findings": findings,
        "path": [{"epoch": e.number, "val_acc": None if e.diverged else e.val_acc} for e in path],
        "reverted": [{"epoch": e.number, "val_acc": None if e.diverged else e.val_acc} for e in epochs if e.reverted],
        "best_val_acc": run.best_val_acc,
        "branches": branch_views,
        "busy": any(b.status in (PENDING, RUNNING) for b in branches),
        "failed": sum(b.status == FAILED for b in branches),
        "branchable": [e for e in planning.branchable_epochs(db, run) if e not in taken],
        "picks_left": max(0, planning.MAX_BRANCHES - len(branches)) if run.debrief_open else 0,
        "references": reference_rows(db, run, dataset, training_curve(epochs)),
    }
