"""The research export: pseudonymous tables of participants, datasets, runs, epochs and actions.

The schema (``TABLES``) lives in app.research.export_schema, the file formats in
app.research.export_formats, the consent rule in app.research.export_scope and the time rules
in app.research.export_timing; this module builds the rows and the files of one export.

What never leaves the database: student names, student IDs, staff accounts and password
hashes, checkpoints (network weights), error texts, and anything of a player who did not
consent (export_scope). Players appear only as a pseudonym, an HMAC-SHA256 of their login keyed
with ``Settings.pseudonym_key``: stable across exports while that key is unchanged, and not
reversible without it. Their times are seconds on their own clock unless exact times are asked
for and allowed (export_timing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import BOT_ROLE, Student, SurveyResponse, is_human
from app.classroom.service import class_id_of
from app.classview.models import InstructorMessage
from app.datasets.models import DatasetRecord
from app.leaderboard.scale import normalised as normalised_of
from app.leaderboard.scale import scale_of
from app.db.base import as_utc
from app.paths import ROOT
from app.research.export_doc import schema_markdown
from app.research.export_formats import FORMATS, WRITERS, ExportError, check_format, table_csv, table_jsonl
from app.research.export_schema import CONFIG_KEYS, SCHEMA_VERSION, TABLES, TYPES, Column, Table
from app.research.export_scope import ClassFlags, Scope, class_flags, excluded_player, export_scope
from app.research.export_timing import Clocks, ExactTimesRefused, TimeOptions, check_allowed, timestamp
from app.research.instruments import CONFIDENCE_HALF_WIDTH, calibrations_by_student
from app.research.models import Assignment
from app.runs.models import ENDED, ActionRecord, EpochRecord, Run
from engine.numbers import finite

__all__ = [
    "BOT_ROLE", "CONFIG_KEYS", "FORMATS", "SCHEMA_DOC", "SCHEMA_VERSION", "TABLES", "TYPES", "Column", "ExactTimesRefused",
    "ExportError", "Table", "TimeOptions", "build_tables", "excluded_player", "export_files", "pseudonym", "schema_markdown",
    "table_counts", "table_csv", "table_jsonl", "timestamp", "write_directory", "zip_bytes",
]

#: The checked-in copy of schema_markdown() (a test keeps them identical).
SCHEMA_DOC = ROOT / "docs" / "export-schema.md"
STUDENT_KIND, BOT_KIND = "student", "bot"


# ----------------------------------------------------------------------------- pseudonyms


def pseudonym(student_id: str, name_key: str, key: bytes) -> str:
    """``p_`` + the first 16 hex digits of HMAC-SHA256(key, student ID + newline + compared name).

    The name is part of it because a player is the (student ID, name) pair they log in with.
    """
    login = f"{student_id}\n{name_key}".encode("utf-8")
    return "p_" + hmac.new(key, login, hashlib.sha256).hexdigest()[:16]


_BOT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,39}$")


def bot_pseudonym(student: Student, key: bytes) -> str:
    """``bot:<name>`` for an automatic player (e.g. ``bot:rule-based``); its account fields are not copied blindly."""
    candidates = [student.name, student.student_id]
    if student.student_id.startswith("bot:"):
        candidates.insert(0, student.student_id[4:])
    for candidate in candidates:
        slug = "-".join(candidate.strip().lower().split())
        if _BOT_NAME.match(slug):
            return f"bot:{slug}"
    return "bot:" + pseudonym(student.student_id, student.name_key, key)[2:]


def player_of(student: Student, key: bytes) -> tuple[str, str]:
    """(pseudonym, player_kind) of a Student row."""
    if student.is_bot:
        return bot_pseudonym(student, key), BOT_KIND
    return pseudonym(student.student_id, student.name_key, key), STUDENT_KIND


# ----------------------------------------------------------------------------- values


def _clean_json(value: Any) -> Any:
    """JSON columns with non-finite numbers replaced by null, so every file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


def _row(table: str, values: dict) -> dict:
    """``values`` in the table's column order; a missing or extra column is a bug here."""
    names = TABLES[table].column_names
    if set(values) != set(names):
        raise AssertionError(f"{table}: row columns differ from the schema: {sorted(set(values) ^ set(names))}")
    return {name: values[name] for name in names}


# ----------------------------------------------------------------------------- rows


@dataclasses.dataclass
class _Context:
    """What every row builder of one export shares."""

    db: Session
    key: bytes
    scope: Scope
    clocks: Clocks
    students: dict[int, Student]
    conditions: dict[int, str]

    @classmethod
    def load(cls, db: Session, key: bytes, times: TimeOptions, flags: ClassFlags) -> "_Context":
        students = {s.id: s for s in db.scalars(select(Student))}
        conditions = dict(db.execute(select(Assignment.student_pk, Assignment.condition)).all())
        return cls(db, key, export_scope(db, flags), Clocks(db, times), students, conditions)

    def player(self, student_pk: int) -> tuple[str, str]:
        return player_of(self.students[student_pk], self.key)

    def condition(self, student_pk: int) -> str | None:
        """The player's assigned condition; automatic players have none."""
        student = self.students.get(student_pk)
        return None if student is None or student.is_bot else self.conditions.get(student_pk)

    def exports_run(self, run_id: int) -> bool:
        """Whether the run is in this export: in scope, and known to the clocks (a run started while the
        export was being read is left for the next one)."""
        return self.scope.has_run(run_id) and run_id in self.clocks.owner_of_run

    def run_owners(self) -> dict[int, int]:
        """Run.id -> Run.student_pk of every exported run."""
        return {run_id: owner for run_id, owner in self.db.execute(select(Run.id, Run.student_pk))
                if self.exports_run(run_id)}


def participant_rows(ctx: _Context) -> list[dict]:
    """Consenting human players, with survey answers (null when they never answered) and calibration."""
    db, clocks = ctx.db, ctx.clocks
    surveys = {s.student_pk: s for s in db.scalars(select(SurveyResponse))}
    started = dict(db.execute(select(Run.student_pk, func.count()).group_by(Run.student_pk)).all())
    ended = dict(db.execute(select(Run.student_pk, func.count()).where(Run.status == ENDED).group_by(Run.student_pk)).all())
    predicted = dict(db.execute(select(Run.student_pk, func.count()).join(ActionRecord, ActionRecord.run_id == Run.id)
                                .where(ActionRecord.prediction.is_not(None)).group_by(Run.student_pk)).all())
    calibrations = calibrations_by_student(db)
    rows = []
    for student in ctx.students.values():
        if student.is_bot or student.id in ctx.scope.students:
            continue
        survey = surveys.get(student.id)
        answered = survey.created_at if survey else None
        calibration = calibrations.get(student.id)
        rows.append(
            _row("participants", {
                "pseudonym": pseudonym(student.student_id, student.name_key, ctx.key),
                "condition": ctx.condition(student.id),
                "class_id": class_id_of(student),
                "consent": "agreed" if student.consented else "not asked",
                "consent_version": student.consent_version,
                "joined_s": clocks.seconds(student.id, student.created_at),
                "survey_education": survey.education if survey else None,
                "survey_experience_years": survey.experience_years if survey else None,
                "survey_self_rating": survey.self_rating if survey else None,
                "survey_network_types": _clean_json(list(survey.network_types)) if survey else None,
                "survey_answered_s": clocks.seconds(student.id, answered),
                "runs_started": started.get(student.id, 0),
                "runs_ended": ended.get(student.id, 0),
                "predictions": predicted.get(student.id, 0),
                "calibration_mae": finite(calibration.mean_absolute_error) if calibration else None,
                "calibration_inside_share": finite(calibration.inside_share) if calibration else None,
                "joined_at": clocks.exact(student.created_at),
                "survey_answered_at": clocks.exact(answered),
            })
        )
    # Sorted by pseudonym, not by database id: row order must not reveal who joined first.
    return sorted(rows, key=lambda r: r["pseudonym"])


def dataset_rows(db: Session) -> list[dict]:
    """Every dataset with its statistics, baselines and normalised-score scale."""
    rows = []
    for d in db.scalars(select(DatasetRecord).order_by(DatasetRecord.id)):
        scale = scale_of(d)
        rows.append(_row("datasets", {
            "dataset_id": d.id,
            "family": d.family,
            "seed": d.seed,
            "size": d.size,
            "num_classes": d.num_classes,
            "input_shape": _clean_json(list(d.input_shape)),
            "train_examples": d.train_examples,
            "val_examples": d.val_examples,
            "test_examples": d.test_examples,
            "baseline_status": d.baseline_status,
            "baseline_default": finite(d.baseline_default),
            "baseline_linear": finite(d.baseline_linear),
            "baseline_bot": finite(d.baseline_bot),
            "bot_run_id": d.bot_run_id,
            "baseline_random": finite(d.baseline_random),
            "baseline_oracle": finite(d.baseline_oracle),
            "oracle_schedule": d.oracle_schedule,
            "chance": 1.0 / d.num_classes,
            "normalisation_top": finite(scale.top) if scale else None,
            "normalisation_top_player": scale.top_key if scale else None,
            "normalisation_complete": bool(scale and scale.complete),
            "created_at": timestamp(d.created_at),
        }))
    return rows


def run_rows(ctx: _Context) -> list[dict]:
    """Every exported run, bots' included (flagged by player_kind)."""
    datasets = {d.id: d for d in ctx.db.scalars(select(DatasetRecord))}
    clocks = ctx.clocks
    rows = []
    for run in ctx.db.scalars(select(Run).order_by(Run.id)):
        if not ctx.exports_run(run.id):
            continue
        name, kind = ctx.player(run.student_pk)
        dataset = datasets.get(run.dataset_id)
        clock = clocks.owner_of_run[run.id]
        rows.append(
            _row("runs", {
                "run_id": run.id,
                "pseudonym": name,
                "player_kind": kind,
                "condition": ctx.condition(run.student_pk),
                "scenario_id": run.scenario_id,
                "dataset_id": run.dataset_id,
                "dataset_family": dataset.family if dataset else None,
                "dataset_seed": dataset.seed if dataset else None,
                "seed": run.seed,
                "status": run.status,
                "initial_config": _clean_json(dict(run.initial_config or {})),
                "final_config": _clean_json(dict(run.config or {})),
                "epochs": run.epoch,
                "actions": run.actions_used,
                "best_val_acc": finite(run.best_val_acc),
                "normalised_score": finite(normalised_of(dataset, run.best_val_acc)) if dataset else None,
                "test_acc": finite(run.test_acc),
                "end_reason": run.end_reason,
                "parent_run_id": run.parent_run_id,
                "parent_epoch": run.parent_epoch,
                "started_s": clocks.seconds(clock, run.created_at),
                "ended_s": clocks.seconds(clock, run.ended_at),
                "session_day": clocks.day(clock, run.created_at),
                "created_at": clocks.exact(run.created_at),
                "ended_at": clocks.exact(run.ended_at),
            })
        )
    return rows


def epoch_rows(ctx: _Context) -> list[dict]:
    """Every exported epoch in training order per run (``sequence``), reverted ones included."""
    owners, clocks = ctx.run_owners(), ctx.clocks
    action_index = dict(ctx.db.execute(select(ActionRecord.id, ActionRecord.index)).all())
    rows = []
    sequence: dict[int, int] = {}
    for epoch in ctx.db.scalars(select(EpochRecord).order_by(EpochRecord.run_id, EpochRecord.id)):
        if epoch.run_id not in owners:
            continue
        sequence[epoch.run_id] = sequence.get(epoch.run_id, 0) + 1
        config = epoch.config or {}
        clock = clocks.owner_of_run[epoch.run_id]
        rows.append(
            _row("epochs", {
                "run_id": epoch.run_id,
                "sequence": sequence[epoch.run_id],
                "number": epoch.number,
                "action_index": action_index.get(epoch.action_id),
                "condition": ctx.condition(owners[epoch.run_id]),
                **{f"config_{k}": config.get(k) for k in CONFIG_KEYS},
                "train_loss": finite(epoch.train_loss),
                "train_acc": epoch.train_acc,
                "val_loss": finite(epoch.val_loss),
                "val_acc": epoch.val_acc,
                "diverged": bool(epoch.diverged),
                "reverted": bool(epoch.reverted),
                "seconds": epoch.seconds,
                "change": _clean_json(epoch.change) if epoch.change else None,
                "finished_s": clocks.seconds(clock, epoch.created_at),
                "session_day": clocks.day(clock, epoch.created_at),
                "created_at": clocks.exact(epoch.created_at),
            })
        )
    return rows


def action_rows(ctx: _Context) -> list[dict]:
    """Every exported action with its time, the state the player saw and the research instruments."""
    owners, clocks = ctx.run_owners(), ctx.clocks
    trained = dict(ctx.db.execute(select(EpochRecord.action_id, EpochRecord.number)).all())
    rows = []
    previous: dict[int, dt.datetime] = {}
    for action in ctx.db.scalars(select(ActionRecord).order_by(ActionRecord.run_id, ActionRecord.index)):
        if action.run_id not in owners:
            continue
        at = as_utc(action.created_at)
        before = previous.get(action.run_id)
        previous[action.run_id] = at
        shown = action.shown or {}
        clock = clocks.owner_of_run[action.run_id]
        rows.append(
            _row("actions", {
                "run_id": action.run_id,
                "action_index": action.index,
                "kind": action.kind,
                "at_s": clocks.seconds(clock, at),
                "session_day": clocks.day(clock, at),
                "seconds_since_previous": None if before is None else round((at - before).total_seconds(), 6),
                "decision_s": finite(action.decision_seconds),
                "decision_from": action.decision_from if action.decision_seconds is not None else None,
                "choices": _clean_json(dict(action.choices or {})),
                "status": action.status,
                "trained_epoch": trained.get(action.id),
                "shown_action": shown.get("action"),
                "shown_epoch": shown.get("epoch"),
                "shown_best_val_acc": finite(shown.get("best_val_acc")),
                "shown_train_loss": finite(shown.get("train_loss")),
                "shown_train_acc": finite(shown.get("train_acc")),
                "shown_val_loss": finite(shown.get("val_loss")),
                "shown_val_acc": finite(shown.get("val_acc")),
                "shown_config": _clean_json(dict(shown.get("config") or {})),
                "prediction": finite(action.prediction),
                "confidence": action.confidence,
                "confidence_half_width": CONFIDENCE_HALF_WIDTH.get(action.confidence),
                "reasons": _clean_json(list(action.reasons)) if action.reasons else None,
                "reason_text": action.reason_text or None,
                "chart_hovers": action.chart_hovers,
                "condition": action.condition,
                "hint": _clean_json(dict(action.hint)) if action.hint else None,
                "timestamp": clocks.exact(at),
            })
        )
    return rows


def message_rows(ctx: _Context) -> list[dict]:
    """Every instructor message, once per exported player it was shown to (a class-wide one: every player of the class who had joined)."""
    clocks = ctx.clocks
    members: dict[int, list[Student]] = {}
    for student in ctx.students.values():
        if not student.is_bot and student.id not in ctx.scope.students:
            members.setdefault(class_id_of(student), []).append(student)
    rows = []
    for message in ctx.db.scalars(select(InstructorMessage).order_by(InstructorMessage.id)):
        at = as_utc(message.created_at)
        if message.student_pk is None:
            recipients = [s for s in members.get(message.class_id, []) if as_utc(s.created_at) <= at]
        else:
            student = ctx.students.get(message.student_pk)
            recipients = [student] if student is not None and student in members.get(class_id_of(student), []) else []
        for student in recipients:
            rows.append(_row("messages", {
                "message_id": message.id,
                "pseudonym": pseudonym(student.student_id, student.name_key, ctx.key),
                "audience": "class" if message.student_pk is None else "student",
                "condition": ctx.condition(student.id),
                "text": message.text,
                "sent_s": clocks.seconds(student.id, at),
                "session_day": clocks.day(student.id, at),
                "timestamp": clocks.exact(at),
            }))
    # By message, then pseudonym: row order must not reveal who joined first.
    return sorted(rows, key=lambda r: (r["message_id"], r["pseudonym"]))


def build_tables(db: Session, key: bytes, times: TimeOptions | None = None) -> dict[str, list[dict]]:
    """Every table's rows, in TABLES order; ExactTimesRefused when exact times are not allowed."""
    times = times or TimeOptions()
    flags = class_flags(db)
    check_allowed(times, flags.allow_exact_times)
    ctx = _Context.load(db, key, times, flags)
    built = {
        "participants": participant_rows(ctx),
        "datasets": dataset_rows(db),
        "runs": run_rows(ctx),
        "epochs": epoch_rows(ctx),
        "actions": action_rows(ctx),
        "messages": message_rows(ctx),
    }
    return {name: built[name] for name in TABLES}


def table_counts(db: Session) -> dict[str, int]:
    """Rows each table of an export would have now (COUNT queries, same consent scope as the export)."""
    scope = export_scope(db)

    def count(query) -> int:
        return int(db.scalar(query) or 0)

    def outside(column):
        return column.not_in(scope.runs) if scope.runs else column.is_not(None)

    humans = select(func.count()).select_from(Student).where(is_human())
    if scope.students:
        humans = humans.where(Student.id.not_in(scope.students))
    return {
        "participants": count(humans),
        "datasets": count(select(func.count()).select_from(DatasetRecord)),
        "runs": count(select(func.count()).select_from(Run).where(outside(Run.id))),
        "epochs": count(select(func.count()).select_from(EpochRecord).where(outside(EpochRecord.run_id))),
        "actions": count(select(func.count()).select_from(ActionRecord).where(outside(ActionRecord.run_id))),
        "messages": len(message_rows(_Context.load(db, b"", TimeOptions(), class_flags(db)))),
    }


# ----------------------------------------------------------------------------- files


def export_files(db: Session, key: bytes, fmt: str = "csv", created_at: dt.datetime | None = None,
                 times: TimeOptions | None = None) -> dict[str, bytes]:
    """Every file of an export by name: one per table, manifest.json, and the schema (SCHEMA.md).

    ExportError for an unknown format, ExactTimesRefused for exact times the class does not allow.
    """
    check_format(fmt)
    times = times or TimeOptions()
    tables = build_tables(db, key, times)
    write = WRITERS[fmt]
    files = {TABLES[name].filename(fmt): write(TABLES[name], rows) for name, rows in tables.items()}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created_at": timestamp(created_at or dt.datetime.now(dt.timezone.utc)),
        "format": fmt,
        "time_mode": times.mode,
        "session_day": times.session_day,
        "tables": {name: {"file": TABLES[name].filename(fmt), "rows": len(rows)} for name, rows in tables.items()},
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    files["SCHEMA.md"] = schema_markdown().encode("utf-8")
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """The files as a zip archive, in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def write_directory(files: dict[str, bytes], directory: Path) -> None:
    """The files into ``directory`` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
