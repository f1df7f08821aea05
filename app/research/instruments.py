"""Per-action research instruments: predict-before-reveal, reason chips and the chart-hover counter.

Each is off, optional or required per class (ClassSettings.predictions / .reasons). The form
fields are parsed here into ActionRecord columns, and a player's predictions are scored against
what the epochs reached (their calibration).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.errors import WebError
from app.runs.models import ActionRecord, EpochRecord, Run
from engine.actions import trains_an_epoch

OFF, OPTIONAL, REQUIRED = "off", "optional", "required"
MODES = (OFF, OPTIONAL, REQUIRED)

#: Reason chips by stored key; the labels are what the page shows.
REASONS = {
    "plateau": "Loss plateaued",
    "overfitting": "Overfitting",
    "diverging": "Diverging",
    "underfitting": "Underfitting",
    "exploring": "Trying something",
    "known_rule": "Following a rule I know",
}
REASON_TEXT_MAX = 200

#: Confidence 1-5 states an interval around the prediction: 5 means "within ±0.02".
CONFIDENCE_HALF_WIDTH = {1: 0.25, 2: 0.15, 3: 0.10, 4: 0.05, 5: 0.02}
#: A page open for hours cannot claim more hovers than this (a counter, not a tracker).
MAX_HOVERS = 10_000

#: Actions that train an epoch, so have an outcome to predict.


def parse_prediction(form: dict[str, str], mode: str) -> dict:
    """``prediction`` (0-1) and ``confidence`` (1-5) from the form; WebError (422) on a bad or missing value."""
    if mode == OFF:
        return {"prediction": None, "confidence": None}
    raw = (form.get("prediction") or "").strip()
    raw_confidence = (form.get("confidence") or "").strip()
    if not raw:
        if mode == REQUIRED:
            raise WebError("predict the validation accuracy of the next epoch (a number from 0 to 1) before you submit", 422)
        return {"prediction": None, "confidence": None}
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        raise WebError("the prediction must be a number from 0 to 1 (for example 0.75)", 422) from None
    if percent:
        value /= 100
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise WebError("the prediction must be a validation accuracy from 0 to 1 (for example 0.75)", 422)
    try:
        confidence = int(raw_confidence)
    except ValueError:
        raise WebError("say how confident you are in your prediction (1 to 5)", 422) from None
    if confidence not in CONFIDENCE_HALF_WIDTH:
        raise WebError("confidence must be a whole number from 1 to 5", 422)
    return {"prediction": round(value, 4), "confidence": confidence}


def parse_reasons(chips: Iterable[str], text: str | None, mode: str) -> dict:
    """``reasons`` (chip keys, in REASONS order) and ``reason_text``; WebError (422) when required and empty."""
    if mode == OFF:
        return {"reasons": None, "reason_text": None}
    chosen = set(chips)
    unknown = sorted(chosen - set(REASONS))
    if unknown:
        raise WebError(f"unknown reason {unknown[0][:40]!r}", 422)
    text = " ".join((text or "").split())
    if len(text) > REASON_TEXT_MAX:
        raise WebError(f"the reason text may be at most {REASON_TEXT_MAX} characters", 422)
    reasons = [key for key in REASONS if key in chosen]
    if mode == REQUIRED and not reasons and not text:
        raise WebError("pick at least one reason for this action (or write one)", 422)
    return {"reasons": reasons or None, "reason_text": text or None}


def parse_hovers(raw: str | None) -> int | None:
    """The page's chart-hover counter; None when the page sent none (no JavaScript), clamped otherwise."""
    try:
        value = int(str(raw or "").strip())
    except ValueError:
        return None
    return max(0, min(value, MAX_HOVERS))


def action_fields(form: dict[str, str], chips: list[str], predictions: str, reasons: str, kind: str) -> dict:
    """The instrument columns of an ActionRecord for an action of ``kind`` submitted with ``form``."""
    fields = {"chart_hovers": parse_hovers(form.get("chart_hovers"))}
    fields.update(parse_prediction(form, predictions if trains_an_epoch(kind) else OFF))
    # The initial configuration has no "change" to give a reason for: chips are on the training page.
    fields.update(parse_reasons(chips, form.get("reason_text"), reasons if kind != "initial" else OFF))
    return fields


# ----------------------------------------------------------------------------- calibration


@dataclasses.dataclass(frozen=True)
class PredictionResult:
    """One prediction against the epoch it was about."""

    action_index: int
    predicted: float
    confidence: int
    #: The epoch the prediction was about, and the validation accuracy it reached.
    epoch: int
    actual: float

    @property
    def half_width(self) -> float:
        """Half the interval the confidence stated."""
        return CONFIDENCE_HALF_WIDTH[self.confidence]

    @property
    def error(self) -> float:
        """Absolute error of the prediction."""
        return abs(self.actual - self.predicted)

    @property
    def inside(self) -> bool:
        """The outcome fell inside the stated interval (a hair of float slack at its edge)."""
        return self.error <= self.half_width + 1e-9


@dataclasses.dataclass(frozen=True)
class Calibration:
    """How well a player's predictions matched: mean absolute error and share inside the stated interval."""

    count: int
    mean_absolute_error: float | None
    inside_share: float | None


def calibration(results: list[PredictionResult]) -> Calibration:
    """The calibration of ``results`` (None figures when there are none)."""
    if not results:
        return Calibration(0, None, None)
    return Calibration(
        len(results),
        sum(r.error for r in results) / len(results),
        sum(r.inside for r in results) / len(results),
    )


def _scored(db: Session, *where) -> list[tuple[int, PredictionResult]]:
    """(player, prediction against its epoch) for the predictions matching ``where``, in action order."""
    rows = db.execute(
        select(Run.student_pk, ActionRecord.index, ActionRecord.prediction, ActionRecord.confidence, EpochRecord.number,
               EpochRecord.val_acc)
        .join(ActionRecord, ActionRecord.run_id == Run.id)
        .join(EpochRecord, EpochRecord.action_id == ActionRecord.id)
        .where(ActionRecord.prediction.is_not(None), ActionRecord.confidence.is_not(None), *where)
        .order_by(ActionRecord.run_id, ActionRecord.index)
    ).all()
    return [(student_pk, PredictionResult(index, prediction, confidence, number, actual))
            for student_pk, index, prediction, confidence, number, actual in rows
            if actual is not None and math.isfinite(actual) and confidence in CONFIDENCE_HALF_WIDTH]


def run_predictions(db: Session, run: Run) -> list[PredictionResult]:
    """The run's predictions whose epochs have trained, in action order."""
    return [result for _, result in _scored(db, Run.id == run.id)]


def student_calibration(db: Session, student: Student) -> Calibration:
    """The player's calibration over every run they played."""
    return calibration([result for _, result in _scored(db, Run.student_pk == student.id)])


def calibrations_by_student(db: Session) -> dict[int, Calibration]:
    """Every player's calibration by Student.id (players without predictions are absent)."""
    by_student: dict[int, list[PredictionResult]] = {}
    for student_pk, result in _scored(db):
        by_student.setdefault(student_pk, []).append(result)
    return {pk: calibration(results) for pk, results in by_student.items()}


# ----------------------------------------------------------------------------- pages


def last_prediction(db: Session, run: Run) -> PredictionResult | None:
    """The prediction about the run's most recently trained epoch, if the player made one."""
    latest = db.execute(
        select(ActionRecord.index, ActionRecord.prediction, ActionRecord.confidence, EpochRecord.number, EpochRecord.val_acc)
        .join(EpochRecord, EpochRecord.action_id == ActionRecord.id)
        .where(ActionRecord.run_id == run.id)
        .order_by(ActionRecord.index.desc()).limit(1)
    ).first()
    if latest is None:
        return None
    index, prediction, confidence, number, actual = latest
    if prediction is None or confidence not in CONFIDENCE_HALF_WIDTH or actual is None or not math.isfinite(actual):
        return None
    return PredictionResult(index, prediction, confidence, number, actual)


def page_context(db: Session, run: Run, predictions: str, reasons: str) -> dict:
    """What the configure and training pages need to show the class's instruments."""
    return {
        "predictions": predictions,
        "reasons": reasons,
        "chips": REASONS,
        "half_widths": CONFIDENCE_HALF_WIDTH,
        "last": last_prediction(db, run) if predictions != OFF else None,
        "run_calibration": calibration(run_predictions(db, run)) if predictions != OFF else None,
    }
