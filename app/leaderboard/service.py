"""Ranking finished runs: per dataset by best validation accuracy, overall by the normalised score.

Runs started from a scenario link (app.scenarios) play a set-up the instructor pinned, so they
are ranked only among themselves, on the scenario's own board, never on the pool's boards.

The normalised score (engine.scale) makes datasets of different difficulty comparable: 0 is
guessing (1 / classes), 1 is the best of the dataset's reference players (the automatic player
included). Scores closer than one validation example are ties and share a rank.
"""

from __future__ import annotations

import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.classroom.service import class_id_of, in_class
from app.datasets.models import DatasetRecord
from app.leaderboard.scale import scale_of
from app.runs.models import ENDED, Run
from engine.scale import MIN_DIVISOR, competition_ranks

__all__ = ["BASELINE_LABELS", "MIN_DIVISOR", "normalised_of", "overall", "per_dataset", "rank_on_dataset",
           "scenario_board"]

#: The reference players beside the players on a board: (score field, label, engine.scale key).
BASELINE_LABELS = (
    ("baseline_default", "Default schedule", "default"),
    ("baseline_linear", "Linear classifier", "linear"),
    ("baseline_bot", "Automatic player (rule-based bot)", "bot"),
    ("baseline_oracle", "Best fixed schedule", "oracle"),
    ("baseline_random", "Random player", "random"),
)


def normalised_of(dataset: DatasetRecord, score: float | None) -> float | None:
    """``score`` on the dataset's normalised scale (None without a score or a usable scale)."""
    scale = scale_of(dataset)
    return None if scale is None else scale.normalised(score)


def _finished_player_runs(db: Session, scenario_id: int | None = None, class_id: int | None = None):
    """Finished players' runs: the pool's (``scenario_id`` None) or one scenario's; of one class if given."""
    of_board = Run.scenario_id.is_(None) if scenario_id is None else Run.scenario_id == scenario_id
    query = (
        select(Run, Student, DatasetRecord)
        .join(Student, Student.id == Run.student_pk)
        .join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(Run.status == ENDED, Run.best_val_acc.is_not(None), is_human(), of_board)
    )
    if class_id is not None:
        query = query.where(in_class(Student.class_id, class_id))
    return db.execute(query).all()


def per_dataset(db: Session, scenario_id: int | None = None, class_id: int | None = None) -> list[dict]:
    """For each dataset with finished runs: each player's best run (ranked) and the reference players beside them.

    ``scenario_id``: the boards of that scenario's runs instead of the pool's. ``class_id``: only
    that class's players (each class, an LMS course or the default class, has its own boards).
    """
    boards: dict[int, dict] = {}
    for run, student, dataset in _finished_player_runs(db, scenario_id, class_id):
        board = boards.setdefault(dataset.id, {"dataset": dataset, "entries": {}})
        best = board["entries"].get(student.id)
        if best is None or run.best_val_acc > best["score"]:
            board["entries"][student.id] = {
                "name": student.name, "student_pk": student.id, "score": run.best_val_acc, "run_id": run.id,
                "test_acc": run.test_acc,
            }
    return [_ranked(board["dataset"], board["entries"].values())
            for board in sorted(boards.values(), key=lambda b: (b["dataset"].family, b["dataset"].seed))]


def _reference_rows(dataset: DatasetRecord, scale) -> list[dict]:
    """The dataset's reference players that have a score (the default, linear and bot always are listed)."""
    rows = []
    for field, label, key in BASELINE_LABELS:
        score = getattr(dataset, field)
        if score is None and key in ("oracle", "random"):
            continue  # computed after the dataset became playable; listed once they exist
        if key == "oracle" and dataset.oracle_schedule:
            label = f"{label} ({dataset.oracle_schedule})"
        rows.append({"name": label, "key": key, "score": score,
                     "normalised": None if scale is None else scale.normalised(score),
                     "is_top": scale is not None and scale.top_key == key})
    return rows


def _ranked(dataset: DatasetRecord, best_entries) -> dict:
    """One dataset's board: the players' best runs ranked (ties share a rank), with the references among them."""
    scale = scale_of(dataset)
    margin = scale.one_example if scale else 0.0
    entries = sorted(best_entries, key=lambda e: -e["score"])
    for entry, rank in zip(entries, competition_ranks([e["score"] for e in entries], margin)):
        entry["rank"] = rank
        entry["normalised"] = None if scale is None else scale.normalised(entry["score"])
    for entry in entries:
        entry["tied"] = sum(other["rank"] == entry["rank"] for other in entries) > 1
    baselines = _reference_rows(dataset, scale)
    # Players and references side by side, best first (references not yet computed go last).
    rows = [{"kind": "player", **e} for e in entries] + [{"kind": "baseline", **b} for b in baselines]
    rows.sort(key=lambda r: -(r["score"] if r["score"] is not None else -1.0))
    return {"dataset": dataset, "baseline": dataset.baseline_default, "scale": scale, "entries": entries,
            "baselines": baselines, "rows": rows}


def scenario_board(db: Session, scenario_id: int, dataset: DatasetRecord) -> dict:
    """A scenario's own board on its dataset: its players' best runs and the baselines (even before anyone finished)."""
    boards = per_dataset(db, scenario_id)
    return boards[0] if boards else _ranked(dataset, [])


def overall_margin(boards: list[dict]) -> float:
    """The overall ranking's tie margin: one validation example on the coarsest dataset's scale."""
    steps = [b["scale"].one_example_normalised for b in boards if b["scale"] is not None and b["scale"].usable]
    return max(steps, default=0.0)


def overall(db: Session, class_id: int | None = None, boards: list[dict] | None = None) -> list[dict]:
    """Players (of class ``class_id``, if given) ranked by their mean normalised score over the datasets they finished.

    Means closer than one validation example on the coarsest dataset share a rank.
    """
    boards = per_dataset(db, class_id=class_id) if boards is None else boards
    players: dict[int, dict] = {}
    for board in boards:
        for entry in board["entries"]:
            if entry["normalised"] is None:
                continue
            player = players.setdefault(entry["student_pk"], {"name": entry["name"], "student_pk": entry["student_pk"],
                                                              "scores": [], "gains": []})
            player["scores"].append(entry["normalised"])
            if board["baseline"] is not None:
                player["gains"].append(entry["score"] - board["baseline"])
    rows = [
        {"name": p["name"], "student_pk": p["student_pk"], "datasets": len(p["scores"]),
         "score": statistics.mean(p["scores"]), "mean_gain": statistics.mean(p["gains"]) if p["gains"] else None}
        for p in players.values()
    ]
    rows.sort(key=lambda r: (-r["score"], -r["datasets"], r["name"]))
    for row, rank in zip(rows, competition_ranks([r["score"] for r in rows], overall_margin(boards))):
        row["rank"] = rank
    for row in rows:
        row["tied"] = sum(other["rank"] == row["rank"] for other in rows) > 1
    return rows


def rank_on_dataset(db: Session, run: Run) -> tuple[int | None, int]:
    """This run's rank among the best runs of every player of its class on its dataset (on its
    scenario's board for a scenario run), and how many players; players within one validation
    example of it count as level, not ahead."""
    # A pool run is ranked within its player's class; a scenario run among the scenario's players.
    class_id = None
    if run.scenario_id is None:
        class_id = class_id_of(db.get(Student, run.student_pk))
    for board in per_dataset(db, run.scenario_id, class_id):
        if board["dataset"].id != run.dataset_id:
            continue
        scores = [e["score"] for e in board["entries"]]
        if run.best_val_acc is None:
            return None, len(scores)
        margin = board["scale"].one_example if board["scale"] else 0.0
        ahead = sum(s > run.best_val_acc and s - run.best_val_acc >= margin - 1e-9 for s in scores)
        return 1 + ahead, len(scores)
    return None, 0
