"""What the class decided, read from its finished runs: decisions against outcomes, common mistakes, people
beside the automatic and reference players, and which habits went with higher scores. One class only."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.classroom.service import in_class
from app.classview.history import actions_and_epochs, steps_of
from app.datasets.models import DatasetRecord
from app.errors import WebError
from app.leaderboard.scale import normalised
from app.research.conditions import CONDITIONS
from app.research.models import Assignment
from app.runs.models import ENDED, EpochRecord, Run
from app.scenarios.models import Scenario
from engine import decisions as engine_decisions
from engine.actions import trains_an_epoch
from engine.datasets import FAMILIES

POOL = "pool"
#: Example replays listed per mistake.
EXAMPLES = 5


@dataclasses.dataclass(frozen=True)
class Filters:
    """The page's filters: a dataset family, an experimental condition, a scenario (or the pool); None = all."""

    family: str | None = None
    condition: str | None = None
    scenario: str | None = None

    def query(self) -> str:
        """The filters as a query string (for the CSV links)."""
        parts = [f"{k}={v}" for k, v in dataclasses.asdict(self).items() if v]
        return "?" + "&".join(parts) if parts else ""


def parse_filters(family: str | None, condition: str | None, scenario: str | None) -> Filters:
    """Filters from the query string; WebError (422) for a value that is not one of the choices."""
    family, condition, scenario = (v.strip() if v else None for v in (family, condition, scenario))
    if family and family not in FAMILIES:
        raise WebError(f"unknown dataset family {family!r}", 422)
    if condition and condition not in CONDITIONS and condition != "none":
        raise WebError(f"unknown condition {condition!r}; conditions are {', '.join(CONDITIONS)} or none", 422)
    if scenario and scenario != POOL and not (scenario.isdigit() and 1 <= int(scenario) <= 2**31 - 1):
        raise WebError("the scenario filter is a scenario number or 'pool'", 422)
    return Filters(family or None, condition or None, scenario or None)


@dataclasses.dataclass
class _Run:
    run: Run
    student: Student
    dataset: DatasetRecord
    condition: str | None
    decisions: list = dataclasses.field(default_factory=list)
    curve: list = dataclasses.field(default_factory=list)


def _finished_runs(db: Session, class_id: int, filters: Filters) -> tuple[list[_Run], dict]:
    """The class's finished human runs (no debrief branches) passing the filters, and the filters' choices."""
    rows = db.execute(
        select(Run, Student, DatasetRecord).join(Student, Student.id == Run.student_pk)
        .join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(is_human(), in_class(Student.class_id, class_id), Run.status == ENDED, Run.parent_run_id.is_(None))
        .order_by(Run.id)
    ).all()
    conditions = dict(db.execute(select(Assignment.student_pk, Assignment.condition)).all())
    runs, choices = [], {"families": set(), "conditions": set(), "scenarios": set()}
    for run, student, dataset in rows:
        # As on the dashboard: a player is in a condition only while they consent.
        condition = conditions.get(student.id) if student.consented else None
        choices["families"].add(dataset.family)
        if condition:
            choices["conditions"].add(condition)
        if run.scenario_id:
            choices["scenarios"].add(run.scenario_id)
        if filters.family and dataset.family != filters.family:
            continue
        if filters.condition and (condition or "none") != filters.condition:
            continue
        if filters.scenario and ((filters.scenario == POOL) != (run.scenario_id is None)
                                 or (filters.scenario != POOL and str(run.scenario_id) != filters.scenario)):
            continue
        runs.append(_Run(run, student, dataset, condition))
    titles = dict(db.execute(select(Scenario.id, Scenario.title).where(Scenario.id.in_(choices["scenarios"] or {0}))).all())
    options = {"families": sorted(choices["families"]), "conditions": sorted(choices["conditions"]),
               "scenarios": [(sid, titles.get(sid, f"Scenario {sid}")) for sid in sorted(choices["scenarios"])]}
    return runs, options


def _label(dataset: DatasetRecord) -> str:
    return f"{dataset.family} #{dataset.seed}"


def analyse(db: Session, class_id: int, filters: Filters) -> dict:
    """Everything the analysis page shows, JSON-ready."""
    runs, options = _finished_runs(db, class_id, filters)
    history = actions_and_epochs(db, [r.run.id for r in runs])
    for r in runs:
        steps, sources = steps_of(history.get(r.run.id, []))
        r.decisions = engine_decisions.decisions(steps, [a.choices for a, _ in sources])
        r.curve = _path_curve(steps)
    return {
        "runs": len(runs),
        "filters": dataclasses.asdict(filters),
        "options": options,
        "decisions": [row for r in runs for row in _decision_rows(r)],
        "mistakes": _mistakes(runs),
        "people": _people(db, runs),
        "importance": _importance(runs),
        "min_runs": engine_decisions.MIN_RUNS_FOR_IMPORTANCE,
    }


def _path_curve(steps) -> list[float | None]:
    """Validation accuracy per epoch of the run's final path (what its score curve looked like)."""
    path = []
    for step in steps:
        if trains_an_epoch(step.kind) and step.epoch is not None:
            path.append(step.epoch)
        elif step.kind == "revert" and path:
            path.pop()
    return [None if p.diverged else p.val_acc for p in path]


def _decision_rows(r: _Run) -> list[dict]:
    rows = []
    for d in r.decisions:
        nxt = list(d.next_val) + [None] * (engine_decisions.OUTCOME_EPOCHS - len(d.next_val))
        rows.append({"run_id": r.run.id, "student": r.student.name, "dataset": _label(r.dataset),
                     "family": r.dataset.family, "condition": r.condition, "action": d.number, "kind": d.kind,
                     "epoch": d.epoch, "val_acc": d.val_acc, "train_acc": d.train_acc, "val_loss": d.val_loss,
                     "lr": d.lr, "best": d.best, "change": d.change_text(), "lr_move": d.change.get("lr", "same"),
                     "next_1": nxt[0], "next_2": nxt[1], "next_3": nxt[2], "delta": d.delta,
                     "mistakes": [engine_decisions.MISTAKES[m] for m in d.mistakes]})
    return rows


def _mistakes(runs: list[_Run]) -> list[dict]:
    """Each common mistake: how often, in how many runs, and example replays."""
    found = {k: {"kind": k, "label": label, "count": 0, "runs": set(), "examples": []}
             for k, label in engine_decisions.MISTAKES.items()}
    for r in runs:
        for d in r.decisions:
            for m in d.mistakes:
                entry = found[m]
                entry["count"] += 1
                if r.run.id not in entry["runs"] and len(entry["examples"]) < EXAMPLES:
                    entry["examples"].append({"run_id": r.run.id, "student": r.student.name, "action": d.number,
                                              "replay": f"/instructor/runs/{r.run.id}/replay"})
                entry["runs"].add(r.run.id)
    rows = [{**e, "runs": len(e["runs"]), "share": len(e["runs"]) / len(runs) if runs else 0.0} for e in found.values()]
    return sorted(rows, key=lambda e: -e["count"])


def _reference_curves(db: Session, dataset: DatasetRecord) -> list[dict]:
    """The automatic player's path curve and the stored reference players' curves on ``dataset``."""
    curves = []
    if dataset.bot_run_id:
        pairs = actions_and_epochs(db, [dataset.bot_run_id]).get(dataset.bot_run_id, [])
        steps, _ = steps_of(pairs)
        curves.append({"name": "Automatic player", "kind": "bot", "values": _path_curve(steps),
                       "score": dataset.baseline_bot})
    stored = dataset.reference_curves or {}
    for key, name, score in (("default", "Default schedule", dataset.baseline_default),
                             ("random", "Random player", dataset.baseline_random)):
        if stored.get(key):
            curves.append({"name": name, "kind": "reference", "values": list(stored[key]), "score": score})
    schedules = stored.get("schedules") or {}
    if dataset.oracle_schedule and schedules.get(dataset.oracle_schedule):
        curves.append({"name": f"Best fixed schedule ({dataset.oracle_schedule})", "kind": "reference",
                       "values": list(schedules[dataset.oracle_schedule]), "score": dataset.baseline_oracle})
    return curves


def _people(db: Session, runs: list[_Run]) -> list[dict]:
    """Per dataset: every student's curve with the automatic and reference players', and normalised scores."""
    by_dataset: dict[int, list[_Run]] = defaultdict(list)
    for r in runs:
        by_dataset[r.dataset.id].append(r)
    out = []
    for dataset_id, group in sorted(by_dataset.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        dataset = group[0].dataset
        references = _reference_curves(db, dataset)
        curves = [{"name": r.student.name, "kind": "student", "run_id": r.run.id, "values": r.curve,
                   "score": r.run.best_val_acc} for r in group]
        scores = [{"name": c["name"], "kind": c["kind"], "run_id": c.get("run_id"), "best": c["score"],
                   "normalised": normalised(dataset, c["score"])} for c in curves + references]
        scores.sort(key=lambda s: -(s["normalised"] if s["normalised"] is not None else -9))
        out.append({"dataset_id": dataset_id, "dataset": _label(dataset), "family": dataset.family,
                    "curves": curves + references, "scores": scores})
    return out


def _importance(runs: list[_Run]) -> list[dict]:
    per_run = []
    for r in runs:
        score = normalised(r.dataset, r.run.best_val_acc)
        if score is not None:
            per_run.append((engine_decisions.habits(r.decisions), score))
    return engine_decisions.importance(per_run)


def epochs_of(db: Session, run_id: int) -> list[EpochRecord]:
    """A run's epochs (for tests and scripts)."""
    return list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id).order_by(EpochRecord.id)))
