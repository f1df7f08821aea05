"""What the debrief shows for one ended run: findings, branches beside the player's curve, reference players."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.models import DatasetRecord
from app.debrief import planning
from app.debrief.models import DONE, FAILED, PENDING, RUNNING, BranchRecord
from app.debrief.retention import run_steps
from app.runs.info import INFO
from app.leaderboard.scale import scale_of
from app.runs.models import EpochRecord, Run
from engine import debrief, regret, rules
from engine.play import PLAYER_DONE

REASON_LABELS = {"best": "your best epoch", "before_drop": "just before your biggest fall", "picked": "your pick"}
#: The reference players beside the player, in the order the table shows them.
REFERENCE_LABELS = {
    "you": "You",
    "oracle": "Best fixed schedule",
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
    view["end_text"] = branch_end_text(branch, bot_run) if bot_run else None
    if view["best_val_acc"] is not None and player_score is not None:
        view["gain"] = view["best_val_acc"] - player_score
    return view


def branch_end_text(branch: BranchRecord, bot_run: Run) -> str:
    """How the branch ended, counted in the epochs the player had left at its start (not the run's total).

    The branch's run keeps counting epochs from the player's (epoch 6 on, say), so its own end
    reason says "trained 30 epochs" where the player had 24 left: that is the budget it used.
    """
    left = rules.MAX_EPOCHS - branch.from_epoch
    used = max(0, (bot_run.epoch or 0) - branch.from_epoch)
    if bot_run.end_reason == PLAYER_DONE:
        return f"pressed Done after {used} of the {left} epochs you had left"
    if bot_run.epoch is not None and bot_run.epoch >= rules.MAX_EPOCHS:
        return f"trained all {left} epochs you had left"
    return f"used all the actions you had left, after {used} of your {left} epochs"


def reference_rows(db: Session, run: Run, dataset: DatasetRecord, player_curve: list) -> dict:
    """Score, normalised score, gap to the best reference and area per epoch for the player and each reference player.

    The normalised score is the leaderboard's (engine.scale: 0 = guessing, 1 = the best reference
    player, the automatic player included), and the gap is measured to that same best reference,
    so no reference player can read above 1 or a negative gap.
    """
    scale = scale_of(dataset)
    top = scale.top if scale else None
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
    for row in regret.regret_table(curves, top):
        label = REFERENCE_LABELS[row.name]
        if row.name == "oracle":
            label += f": {dataset.oracle_schedule}"
        rows.append({
            "name": row.name, "label": label, "score": row.score, "regret": row.regret, "area": row.area,
            "epochs": len(curves[row.name]),
            "normalised": None if scale is None else scale.normalised(row.score),
            "is_top": scale is not None and row.name == scale.top_key,
        })
    return {"status": dataset.references_status, "rows": rows, "random": dataset.baseline_random,
            "oracle": dataset.baseline_oracle, "oracle_schedule": dataset.oracle_schedule,
            "scale": scale.as_dict() if scale else None}


def chart_table(path: list[dict], branches: list[dict]) -> dict:
    """The debrief chart's numbers as a table: one row per epoch, your validation accuracy and each branch's."""
    drawn = [b for b in branches if b["curve"]]
    columns = ["Your run"] + [f"Automatic player from epoch {b['from_epoch']}" for b in drawn]
    last = max([p["epoch"] for p in path] + [p["epoch"] for b in drawn for p in b["curve"]], default=0)
    by_epoch = [{p["epoch"]: p["val_acc"] for p in path}] + [{p["epoch"]: p["val_acc"] for p in b["curve"]} for b in drawn]
    rows = [[epoch] + [values.get(epoch) for values in by_epoch] for epoch in range(1, last + 1)]
    return {"columns": columns, "rows": rows}


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
        "picks_left": planning.picks_left(db, run),
        "references": reference_rows(db, run, dataset, training_curve(epochs)),
        "table": chart_table([{"epoch": e.number, "val_acc": None if e.diverged else e.val_acc} for e in path], branch_views),
    }
