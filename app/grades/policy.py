"""The class's grading rule: what a player's gradebook score is, from their finished runs."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.datasets.models import DatasetRecord
from app.errors import WebError
from app.leaderboard.service import normalised_of
from app.runs.models import ENDED, Run

#: ClassSettings.grade_mode values and what the settings page calls them.
BEST_NORMALISED, COMPLETION = "best_normalised", "completion"
GRADE_MODES = {
    BEST_NORMALISED: "Best normalised score: 0 at or below guessing, 100 at or above the dataset's best reference player "
                     "(the automatic player, the default or a fixed schedule)",
    COMPLETION: "Completion: the share of the required number of finished runs",
}
SCORE_MAXIMUM = 100.0
MAX_RUNS_REQUIRED = 50


@dataclasses.dataclass(frozen=True)
class Grade:
    """A score out of SCORE_MAXIMUM, with the comment the gradebook shows beside it."""

    score: float
    maximum: float
    comment: str
    finished_runs: int


def finished_runs(db: Session, student: Student) -> list[tuple[Run, DatasetRecord]]:
    """The player's own ended runs (not debrief branches) with their datasets."""
    return list(db.execute(
        select(Run, DatasetRecord).join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .where(Run.student_pk == student.id, Run.status == ENDED, Run.parent_run_id.is_(None))
        .order_by(Run.id)
    ))


def grade_of(db: Session, student: Student, row: ClassSettings) -> Grade:
    """The player's grade under the class's rule."""
    runs = finished_runs(db, student)
    plural = "" if len(runs) == 1 else "s"
    if row.grade_mode == COMPLETION:
        required = max(1, row.grade_runs)
        done = min(len(runs), required)
        return Grade(round(SCORE_MAXIMUM * done / required, 2), SCORE_MAXIMUM,
                     f"{len(runs)} finished run{plural} of {required} required", len(runs))
    scores = [normalised_of(dataset, run.best_val_acc) for run, dataset in runs if run.best_val_acc is not None]
    scores = [s for s in scores if s is not None]
    if not scores:
        return Grade(0.0, SCORE_MAXIMUM, f"no scored run yet ({len(runs)} finished)", len(runs))
    best = max(scores)
    # 0 = guessing, 1 = the best reference player (engine.scale): clipped, so matching it is full marks.
    score = round(SCORE_MAXIMUM * min(1.0, max(0.0, best)), 2)
    return Grade(score, SCORE_MAXIMUM, f"best normalised score {best:.2f} over {len(runs)} finished run{plural}", len(runs))


def update_from_form(row: ClassSettings, form: dict[str, object]) -> None:
    """Apply the settings form's grading rule; a form without the fields keeps the current rule; WebError (422) on a bad one."""
    mode = form.get("grade_mode")
    if mode is not None and str(mode) != "":
        if str(mode) not in GRADE_MODES:
            raise WebError(f"the grading rule must be one of {', '.join(GRADE_MODES)}", 422)
        row.grade_mode = str(mode)
    runs = form.get("grade_runs")
    if runs is not None and str(runs) != "":
        try:
            required = int(str(runs))
        except ValueError:
            raise WebError("the number of runs for full marks must be a whole number", 422) from None
        if not 1 <= required <= MAX_RUNS_REQUIRED:
            raise WebError(f"the number of runs for full marks must be between 1 and {MAX_RUNS_REQUIRED}", 422)
        row.grade_runs = required
