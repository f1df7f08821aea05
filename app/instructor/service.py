"""What the instructor dashboard shows: class overview, per-student lists, standings."""

from __future__ import annotations

import collections
import csv
import io
import statistics

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student, SurveyResponse, is_human
from app.classroom.service import in_class
from app.datasets.models import DatasetRecord
from app.leaderboard.scale import scale_of
from app.leaderboard.service import overall
from app.research.conditions import CONDITIONS
from app.research.models import Assignment
from app.runs.models import ABANDONED, ENDED, FAILED, OVER, Run

#: Where a finished run lands against its dataset's references, one validation example counting as level
#: (engine.scale): the score distribution's rows, in order.
SCORE_BUCKETS = (
    ("below_default", "below the default schedule"),
    ("level_default", "level with the default schedule"),
    ("between", "above the default, below the best reference player"),
    ("level_top", "level with the best reference player"),
    ("above_top", "above every reference player"),
)


def _students(class_id: int):
    """The class's human players (a query)."""
    return select(Student).where(is_human(), in_class(Student.class_id, class_id))


def _player_runs(db: Session, class_id: int) -> list[tuple[Run, Student, DatasetRecord]]:
    return list(db.execute(
        select(Run, Student, DatasetRecord)
        .join(Student, Student.id == Run.student_pk)
        .join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(is_human(), in_class(Student.class_id, class_id))
        .order_by(Run.id)
    ).all())


def run_normalised(run: Run, dataset: DatasetRecord) -> float | None:
    """A run's normalised score on its dataset (None without a score or a usable scale)."""
    scale = scale_of(dataset)
    return None if scale is None else scale.normalised(run.best_val_acc)


def bucket_of(score: float, dataset: DatasetRecord) -> str | None:
    """SCORE_BUCKETS key of a finished run's score on its dataset (None before its baselines exist)."""
    scale = scale_of(dataset)
    if scale is None or dataset.baseline_default is None:
        return None
    against_top = scale.compare(score, scale.top)
    if against_top == 0:
        return "level_top"
    if against_top > 0:
        return "above_top"
    against_default = scale.compare(score, dataset.baseline_default)
    return {-1: "below_default", 0: "level_default", 1: "between"}[against_default]


def overview(db: Session, class_id: int) -> dict:
    """The class's participants and its pool runs: started, in progress, finished, abandoned, failed; completion;
    the median normalised score and where finished runs land against the references.

    Only pool runs count, like the class leaderboard: a scenario's runs are ranked on its own board
    (``scenario_runs`` says how many there are). Each finished pool run counts once (not only a
    player's best, as on the leaderboard).
    """
    students = list(db.scalars(_students(class_id)))
    surveyed = {pk for pk in db.scalars(select(SurveyResponse.student_pk))}
    every = _player_runs(db, class_id)
    runs = [(r, s, d) for r, s, d in every if r.scenario_id is None]
    finished = [(r, d) for r, _, d in runs if r.status == ENDED]
    scored = [(r, d) for r, d in finished if r.best_val_acc is not None]
    scores = [s for s in (run_normalised(r, d) for r, d in scored) if s is not None]
    placed = [bucket_of(r.best_val_acc, d) for r, d in scored]
    placed = [p for p in placed if p is not None]
    buckets = []
    for key, label in SCORE_BUCKETS:
        count = placed.count(key)
        buckets.append({"key": key, "label": label, "count": count, "share": count / len(placed) if placed else 0.0})
    return {
        "participants": len(students),
        "surveyed": len(surveyed & {s.id for s in students}),
        "runs": len(runs),
        "finished": len(finished),
        "failed": sum(r.status == FAILED for r, _, _ in runs),
        "abandoned": sum(r.status == ABANDONED for r, _, _ in runs),
        "in_progress": sum(r.status not in OVER for r, _, _ in runs),
        "completion": len(finished) / len(runs) if runs else 0.0,
        "scenario_runs": len(every) - len(runs),
        "scores": scores,
        "placed": len(placed),
        "median_score": statistics.median(scores) if scores else None,
        "buckets": buckets,
    }


def student_rows(db: Session, class_id: int) -> list[dict]:
    """One row per student of the class: pool runs, finished pool runs, best and overall normalised score, overall rank.

    Pool runs only, like the dashboard's figures and the class leaderboard (scenario runs are on the student's page).
    """
    standings = {row["student_pk"]: row for row in overall(db, class_id)}
    per_student: dict[int, dict] = {}
    for student in db.scalars(_students(class_id).order_by(Student.name)):
        per_student[student.id] = {"student": student, "runs": 0, "finished": 0, "best": None, "best_test": None}
    for run, student, dataset in _player_runs(db, class_id):
        if run.scenario_id is not None:
            continue
        row = per_student[student.id]
        row["runs"] += 1
        if run.status == ENDED:
            row["finished"] += 1
            if run.best_val_acc is not None and (row["best"] is None or run.best_val_acc > row["best"]):
                row["best"], row["best_test"] = run.best_val_acc, run.test_acc
    # The same ID under several names: a typo at login, or someone trying a classmate's ID.
    names_per_id = collections.Counter(row["student"].student_id for row in per_student.values())
    assignments = dict(db.execute(select(Assignment.student_pk, Assignment.condition)).all())
    rows = []
    for pk, row in per_student.items():
        standing = standings.get(pk)
        rows.append({**row, "names_for_id": names_per_id[row["student"].student_id],
                     **_study_fields(row["student"], assignments.get(pk)),
                     "score": standing["score"] if standing else None, "rank": standing["rank"] if standing else None,
                     "datasets": standing["datasets"] if standing else 0,
                     "mean_gain": standing["mean_gain"] if standing else None})
    return rows


CONSENT_WORDS = {True: "agreed", False: "declined", None: "not asked"}


def _study_fields(student: Student, condition: str | None) -> dict:
    """A student's consent ("agreed" / "declined" / "not asked") and condition label (None: none)."""
    label = CONDITIONS[condition]["label"] if condition in CONDITIONS else condition
    # A decliner keeps an assignment drawn under an earlier consent, but is in no arm while declined.
    return {"consent": CONSENT_WORDS[student.consented], "condition": condition if student.consented else None,
            "condition_label": label if student.consented else None}


def study_status(db: Session, student: Student) -> dict:
    """The student's consent, consent version and time, and experimental condition (for the student page)."""
    assignment = db.scalar(select(Assignment).where(Assignment.student_pk == student.id))
    return {**_study_fields(student, assignment.condition if assignment else None),
            "consent_version": student.consent_version, "consent_at": student.consent_at,
            "stratum": assignment.stratum if assignment else None}


def student_runs(db: Session, student: Student) -> list[dict]:
    """A student's runs, newest first, with dataset, status, scores and test accuracy."""
    rows = db.execute(
        select(Run, DatasetRecord).join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(Run.student_pk == student.id).order_by(Run.id.desc())
    ).all()
    return [{"run": run, "dataset": dataset, "normalised": run_normalised(run, dataset)} for run, dataset in rows]


STANDINGS_COLUMNS = ("rank", "student_id", "name", "datasets_finished", "normalised_score", "mean_gain_over_default",
                     "runs_started", "runs_finished")


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet will not run as a formula (names are typed by students)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def standings_csv(db: Session, class_id: int) -> str:
    """The class's overall standings as CSV (for extra credit); students without a finished run come last."""
    rows = student_rows(db, class_id)
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["student"].name))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STANDINGS_COLUMNS)
    for row in rows:
        writer.writerow([
            row["rank"] or "", spreadsheet_safe(row["student"].student_id), spreadsheet_safe(row["student"].name),
            row["datasets"],
            "" if row["score"] is None else f"{row['score']:.4f}",
            "" if row["mean_gain"] is None else f"{row['mean_gain']:.4f}",
            row["runs"], row["finished"],
        ])
    return out.getvalue()
