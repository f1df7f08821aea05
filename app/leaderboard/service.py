"""Ranking finished runs: per dataset by best validation accuracy, overall by a normalised score.

Runs started from a scenario link (app.scenarios) play a set-up the instructor pinned, so they
are ranked only among themselves, on the scenario's own board, never on the pool's boards.

The normalised score makes datasets of different difficulty comparable: 0 is what the default
schedule reaches on that dataset, 1 is what the automatic player reaches. A player at 0.5 closed
half the gap between doing nothing and tuning like the bot; above 1 beats the bot.
"""

from __future__ import annotations

import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.classroom.service import class_id_of, in_class
from app.datasets.models import DatasetRecord
from app.runs.models import ENDED, Run

#: Smallest bot-minus-default gap used as the unit: where the bot barely beats the default
#: schedule, dividing by that gap would blow small differences up into huge scores.
MIN_SPREAD = 0.02

BASELINE_LABELS = (
    ("baseline_default", "Default schedule"),
    ("baseline_linear", "Linear classifier"),
    ("baseline_bot", "Automatic player (rule-based bot)"),
)


def normalised_score(score: float, default: float | None, bot: float | None) -> float | None:
    """(score - default) / max(bot - default, MIN_SPREAD); None until both baselines exist."""
    if default is None or bot is None:
        return None
    return (score - default) / max(bot - default, MIN_SPREAD)


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
    """For each dataset with finished runs: each player's best run (ranked) and the baselines beside them.

    ``scenario_id``: the boards of that scenario's runs instead of the pool's. ``class_id``: only
    that class's players (each class, an LMS course or the default class, has its own boards).
    """
    boards: dict[int, dict] = {}
    for run, student, dataset in _finished_player_runs(db, scenario_id, class_id):
        board = boards.setdefault(dataset.id, {"dataset": dataset, "baseline": dataset.baseline_default, "entries": {}})
        best = board["entries"].get(student.id)
        if best is None or run.best_val_acc > best["score"]:
            board["entries"][student.id] = {
                "name": student.name, "student_pk": student.id, "score": run.best_val_acc, "run_id": run.id,
                "test_acc": run.test_acc,
                "normalised": normalised_score(run.best_val_acc, dataset.baseline_default, dataset.baseline_bot),
            }
    return [_ranked(board["dataset"], board["entries"].values())
            for board in sorted(boards.values(), key=lambda b: (b["dataset"].family, b["dataset"].seed))]


def _ranked(dataset: DatasetRecord, best_entries) -> dict:
    """One dataset's board: the players' best runs ranked, with the baselines among them."""
    baseline = dataset.baseline_default
    entries = sorted(best_entries, key=lambda e: -e["score"])
    for position, entry in enumerate(entries, start=1):
        entry["rank"] = position
        entry["beats_baseline"] = baseline is not None and entry["score"] > baseline
    baselines = [{"name": label, "score": getattr(dataset, field),
                  "normalised": None if getattr(dataset, field) is None else
                  normalised_score(getattr(dataset, field), dataset.baseline_default, dataset.baseline_bot)}
                 for field, label in BASELINE_LABELS]
    # Players and baselines side by side, best first (baselines not yet computed go last).
    rows = [{"kind": "player", **e} for e in entries] + [{"kind": "baseline", **b} for b in baselines]
    rows.sort(key=lambda r: -(r["score"] if r["score"] is not None else -1.0))
    return {"dataset": dataset, "baseline": baseline, "entries": entries, "baselines": baselines, "rows": rows}


def scenario_board(db: Session, scenario_id: int, dataset: DatasetRecord) -> dict:
    """A scenario's own board on its dataset: its players' best runs and the baselines (even before anyone finished)."""
    boards = per_dataset(db, scenario_id)
    return boards[0] if boards else _ranked(dataset, [])


def overall(db: Session, class_id: int | None = None) -> list[dict]:
    """Players (of class ``class_id``, if given) ranked by their mean normalised score over the datasets they finished."""
    players: dict[int, dict] = {}
    for board in per_dataset(db, class_id=class_id):
        for entry in board["entries"]:
            if entry["normalised"] is None:
                continue
            player = players.setdefault(entry["student_pk"], {"name": entry["name"], "student_pk": entry["student_pk"],
                                                              "scores": [], "gains": []})
            player["scores"].append(entry["normalised"])
            player["gains"].append(entry["score"] - board["baseline"])
    rows = [
        {"name": p["name"], "student_pk": p["student_pk"], "datasets": len(p["scores"]),
         "score": statistics.mean(p["scores"]), "mean_gain": statistics.mean(p["gains"])}
        for p in players.values()
    ]
    rows.sort(key=lambda r: (-r["score"], -r["datasets"], r["name"]))
    for position, row in enumerate(rows, start=1):
        row["rank"] = position
    return rows


def rank_on_dataset(db: Session, run: Run) -> tuple[int | None, int]:
    """This run's rank among the best runs of every player of its class on its dataset (on its
    scenario's board for a scenario run), and how many players."""
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
        return 1 + sum(s > run.best_val_acc for s in scores), len(scores)
    return None, 0
