"""Ranking finished runs: per dataset by best validation accuracy, overall by gain over the baseline."""

from __future__ import annotations

import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.datasets.models import DatasetRecord
from app.runs.models import ENDED, Run


def _finished(db: Session):
    return db.execute(
        select(Run, Student, DatasetRecord)
        .join(Student, Student.id == Run.student_pk)
        .join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(Run.status == ENDED, Run.best_val_acc.is_not(None))
    ).all()


def per_dataset(db: Session) -> list[dict]:
    """For each dataset with finished runs: its baseline and each player's best run, best first."""
    boards: dict[int, dict] = {}
    for run, student, dataset in _finished(db):
        board = boards.setdefault(
            dataset.id,
            {"dataset": dataset, "baseline": dataset.baseline_default, "entries": {}},
        )
        best = board["entries"].get(student.id)
        if best is None or run.best_val_acc > best["score"]:
            board["entries"][student.id] = {"name": student.name, "student_pk": student.id, "score": run.best_val_acc, "run_id": run.id}
    out = []
    for board in sorted(boards.values(), key=lambda b: (b["dataset"].family, b["dataset"].seed)):
        entries = sorted(board["entries"].values(), key=lambda e: -e["score"])
        for position, entry in enumerate(entries, start=1):
            entry["rank"] = position
            entry["beats_baseline"] = board["baseline"] is not None and entry["score"] > board["baseline"]
        out.append({"dataset": board["dataset"], "baseline": board["baseline"], "entries": entries})
    return out


def overall(db: Session) -> list[dict]:
    """Players ranked by their mean gain over each dataset's default baseline (datasets with one)."""
    gains: dict[int, dict] = {}
    for board in per_dataset(db):
        if board["baseline"] is None:
            continue
        for entry in board["entries"]:
            player = gains.setdefault(entry["student_pk"], {"name": entry["name"], "gains": []})
            player["gains"].append(entry["score"] - board["baseline"])
    rows = [
        {"name": p["name"], "datasets": len(p["gains"]), "mean_gain": statistics.mean(p["gains"])}
        for p in gains.values()
    ]
    rows.sort(key=lambda r: -r["mean_gain"])
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


def rank_on_dataset(db: Session, run: Run) -> tuple[int | None, int]:
    """This run's rank among the best runs of every player on its dataset, and how many players."""
    for board in per_dataset(db):
        if board["dataset"].id != run.dataset_id:
            continue
        scores = [e["score"] for e in board["entries"]]
        if run.best_val_acc is None:
            return None, len(scores)
        return 1 + sum(s > run.best_val_acc for s in scores), len(scores)
    return None, 0
