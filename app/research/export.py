"""The research export: pseudonymous tables of participants, datasets, runs, epochs and actions.

``TABLES`` below is the single source of truth for what an export holds: the row builders
emit exactly its columns, in its order; docs/export-schema.md documents the same columns
(a test checks both directions). Change a column here, bump ``SCHEMA_VERSION`` and the doc.

What never leaves the database: student names, student IDs, staff accounts and password
hashes, checkpoints (network weights), error texts. Players appear only as a pseudonym, an
HMAC-SHA256 of their student ID keyed with ``Settings.pseudonym_key``: stable across exports
while that key is unchanged, and not reversible without it.
"""

from __future__ import annotations

import csv
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
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Student, SurveyResponse
from app.datasets.models import DatasetRecord
from app.paths import ROOT
from app.runs.models import ActionRecord, EpochRecord, Run

SCHEMA_VERSION = "2"
FORMATS = ("csv", "jsonl")
SCHEMA_DOC = ROOT / "docs" / "export-schema.md"

#: Column types: how each is written in CSV and in JSON Lines (see docs/export-schema.md).
TYPES = ("integer", "number", "string", "boolean", "timestamp", "json")

#: Student.role of automatic players; every other role is a human participant.
BOT_ROLE = "bot"
STUDENT_KIND, BOT_KIND = "student", "bot"
#: The knobs of a configuration, flattened into ``config_*`` columns of the epochs table.
CONFIG_KEYS = ("width", "depth", "lr", "dropout", "weight_decay")


@dataclasses.dataclass(frozen=True)
class Column:
    """One exported column."""

    name: str
    type: str
    description: str
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r}")


@dataclasses.dataclass(frozen=True)
class Table:
    """One exported table (one file per format)."""

    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def filename(self, fmt: str) -> str:
        return f"{self.name}.{fmt}"


C = Column
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "participants",
            "One row per human player (bots are not participants), with their survey answers.",
            (
                C("pseudonym", "string", "HMAC-SHA256 of the student ID (16 hex digits, prefixed `p_`); stable across exports."),
                C("joined_at", "timestamp", "First login."),
                C("survey_education", "string", "Survey: highest education.", nullable=True),
                C("survey_experience_years", "string", "Survey: years of experience training neural networks.", nullable=True),
                C("survey_self_rating", "string", "Survey: self-rated experience.", nullable=True),
                C("survey_network_types", "json", "Survey: list of network types the player has trained before.", nullable=True),
                C("survey_answered_at", "timestamp", "When the survey was answered; null if never.", nullable=True),
                C("runs_started", "integer", "Runs this player started (any status)."),
                C("runs_ended", "integer", "Runs this player finished (status `ended`)."),
            ),
        ),
        Table(
            "datasets",
            "Every generated dataset; (family, seed, size) regenerates it exactly.",
            (
                C("dataset_id", "integer", "Dataset identifier (referenced by runs.dataset_id)."),
                C("family", "string", "Dataset family (generator)."),
                C("seed", "integer", "Generator seed."),
                C("size", "string", "Size preset: full, small or tiny."),
                C("num_classes", "integer", "Number of classes."),
                C("input_shape", "json", "Shape of one input: [C, H, W] for images, [D] for vectors."),
                C("train_examples", "integer", "Examples in the training split."),
                C("val_examples", "integer", "Examples in the validation split (shown to players)."),
                C("test_examples", "integer", "Examples in the hidden test split."),
                C("baseline_status", "string", "pending, running, done or failed; only `done` datasets are handed out."),
                C("baseline_default", "number", "Best validation accuracy of the default schedule over the epoch budget.", nullable=True),
                C("baseline_linear", "number", "Best validation accuracy of a linear classifier over the epoch budget.", nullable=True),
                C("baseline_bot", "number", "Score of the automatic player on this dataset.", nullable=True),
                C("bot_run_id", "integer", "The automatic player's run (in the runs table).", nullable=True),
                C("baseline_random", "number", "Score of the random player (uniform over legal one-knob moves).", nullable=True),
                C("baseline_oracle", "number", "Score of the best schedule of a fixed grid (the oracle).", nullable=True),
                C("oracle_schedule", "string", "Name of that best schedule.", nullable=True),
                C("created_at", "timestamp", "When the dataset was generated."),
            ),
        ),
        Table(
            "runs",
            "One row per game: a player, a dataset and how the game ended.",
            (
                C("run_id", "integer", "Run identifier."),
                C("pseudonym", "string", "The player's pseudonym (`p_…`), or `bot:<name>` for an automatic player."),
                C("player_kind", "string", "`student` (a participant) or `bot` (an automatic player, not a participant)."),
                C("dataset_id", "integer", "The dataset (datasets.dataset_id)."),
                C("dataset_family", "string", "The dataset's family (copied for convenience)."),
                C("dataset_seed", "integer", "The dataset's seed (copied for convenience)."),
                C("seed", "integer", "Seed of the network's initialisation and data order."),
                C("status", "string", "configuring, queued, training, ready, ended or failed."),
                C("initial_config", "json", "Initial configuration (width, depth, lr, dropout, weight_decay); `{}` until chosen."),
                C("final_config", "json", "Configuration as the run stands (the one its last path epoch used)."),
                C("epochs", "integer", "Epochs on the current path (reverted ones not counted)."),
                C("actions", "integer", "Actions taken (initial configuration included)."),
                C("best_val_acc", "number", "Best validation accuracy of a non-diverged epoch.", nullable=True),
                C("test_acc", "number", "Hidden test accuracy of the best checkpoint, computed when the run ends.", nullable=True),
                C("end_reason", "string", "Why the run ended (player pressed Done, a limit was reached, …).", nullable=True),
                C("parent_run_id", "integer", "For a debrief branch (the automatic player continuing a player's run from "
                                              "one of its checkpoints): the player's run; null otherwise.", nullable=True),
                C("parent_epoch", "integer", "For a debrief branch: the epoch of the parent run it started from.",
                  nullable=True),
                C("created_at", "timestamp", "When the run was started."),
                C("ended_at", "timestamp", "When the run ended.", nullable=True),
            ),
        ),
        Table(
            "epochs",
            "Every trained epoch, reverted ones included, with its configuration and metrics.",
            (
                C("run_id", "integer", "The run (runs.run_id)."),
                C("sequence", "integer", "Training order within the run (1, 2, …); a reverted epoch's number is reused by the next one."),
                C("number", "integer", "Epoch number on the run's path (1-based)."),
                C("action_index", "integer", "The action that trained it (actions.action_index of the same run)."),
                C("config_width", "integer", "Width the epoch trained with."),
                C("config_depth", "integer", "Depth the epoch trained with."),
                C("config_lr", "number", "Learning rate."),
                C("config_dropout", "number", "Dropout rate."),
                C("config_weight_decay", "number", "Weight decay."),
                C("train_loss", "number", "Training loss; null when not finite (diverged).", nullable=True),
                C("train_acc", "number", "Training accuracy."),
                C("val_loss", "number", "Validation loss; null when not finite (diverged).", nullable=True),
                C("val_acc", "number", "Validation accuracy."),
                C("diverged", "boolean", "The loss or weights became non-finite."),
                C("reverted", "boolean", "The player undid this epoch (it is not on the run's path)."),
                C("seconds", "number", "Training time of the epoch in seconds."),
                C("change", "json", "Width/depth change made before training: validation metrics before/after and `steps` "
                                    "(knob, direction, old_value, new_value, …); null when none.", nullable=True),
                C("created_at", "timestamp", "When the epoch finished training."),
            ),
        ),
        Table(
            "actions",
            "Every submit of a player, with what they were shown when deciding.",
            (
                C("run_id", "integer", "The run (runs.run_id)."),
                C("action_index", "integer", "Action number within the run (1 = the initial configuration)."),
                C("kind", "string", "initial, continue, revert or done."),
                C("timestamp", "timestamp", "When the action was submitted."),
                C("seconds_since_previous", "number", "Seconds since the run's previous action; null for the first.", nullable=True),
                C("choices", "json", "What was chosen: the configuration for `initial`, knob moves ({knob: up|down}) for "
                                     "`continue`, `{}` otherwise."),
                C("status", "string", "queued, running, done or failed (failed: the epoch could not be trained)."),
                C("trained_epoch", "integer", "Number of the epoch this action trained; null for revert/done or a failed epoch.",
                  nullable=True),
                C("shown_action", "integer", "Visible state: actions taken before this one."),
                C("shown_epoch", "integer", "Visible state: epochs on the path."),
                C("shown_best_val_acc", "number", "Visible state: best validation accuracy so far.", nullable=True),
                C("shown_train_loss", "number", "Visible state: last path epoch's training loss.", nullable=True),
                C("shown_train_acc", "number", "Visible state: last path epoch's training accuracy.", nullable=True),
                C("shown_val_loss", "number", "Visible state: last path epoch's validation loss.", nullable=True),
                C("shown_val_acc", "number", "Visible state: last path epoch's validation accuracy.", nullable=True),
                C("shown_config", "json", "Visible state: the configuration in force (`{}` before the initial one)."),
            ),
        ),
    )
}
del C


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
    if student.role == BOT_ROLE:
        return bot_pseudonym(student, key), BOT_KIND
    return pseudonym(student.student_id, student.name_key, key), STUDENT_KIND


# ----------------------------------------------------------------------------- values


def timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (SQLite hands back naive datetimes; they were stored as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


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


def _players(db: Session, key: bytes) -> dict[int, tuple[str, str]]:
    return {s.id: player_of(s, key) for s in db.scalars(select(Student))}


def participant_rows(db: Session, key: bytes) -> list[dict]:
    """Human players only, with survey answers (null when they never answered)."""
    surveys = {s.student_pk: s for s in db.scalars(select(SurveyResponse))}
    started = dict(db.execute(select(Run.student_pk, func.count()).group_by(Run.student_pk)).all())
    ended = dict(db.execute(select(Run.student_pk, func.count()).where(Run.status == "ended").group_by(Run.student_pk)).all())
    rows = []
    for student in db.scalars(select(Student).where(Student.role != BOT_ROLE)):
        survey = surveys.get(student.id)
        rows.append(
            _row("participants", {
                "pseudonym": pseudonym(student.student_id, student.name_key, key),
                "joined_at": timestamp(student.created_at),
                "survey_education": survey.education if survey else None,
                "survey_experience_years": survey.experience_years if survey else None,
                "survey_self_rating": survey.self_rating if survey else None,
                "survey_network_types": _clean_json(list(survey.network_types)) if survey else None,
                "survey_answered_at": timestamp(survey.created_at) if survey else None,
                "runs_started": started.get(student.id, 0),
                "runs_ended": ended.get(student.id, 0),
            })
        )
    # Sorted by pseudonym, not by database id: row order must not reveal who joined first.
    return sorted(rows, key=lambda r: r["pseudonym"])


def dataset_rows(db: Session) -> list[dict]:
    """Every dataset with its statistics and baselines."""
    return [
        _row("datasets", {
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
            "baseline_default": _finite(d.baseline_default),
            "baseline_linear": _finite(d.baseline_linear),
            "baseline_bot": _finite(d.baseline_bot),
            "bot_run_id": d.bot_run_id,
            "baseline_random": _finite(d.baseline_random),
            "baseline_oracle": _finite(d.baseline_oracle),
            "oracle_schedule": d.oracle_schedule,
            "created_at": timestamp(d.created_at),
        })
        for d in db.scalars(select(DatasetRecord).order_by(DatasetRecord.id))
    ]


def run_rows(db: Session, key: bytes) -> list[dict]:
    """Every run, bots' included (flagged by player_kind)."""
    players = _players(db, key)
    datasets = {d.id: d for d in db.scalars(select(DatasetRecord))}
    rows = []
    for run in db.scalars(select(Run).order_by(Run.id)):
        name, kind = players[run.student_pk]
        dataset = datasets.get(run.dataset_id)
        rows.append(
            _row("runs", {
                "run_id": run.id,
                "pseudonym": name,
                "player_kind": kind,
                "dataset_id": run.dataset_id,
                "dataset_family": dataset.family if dataset else None,
                "dataset_seed": dataset.seed if dataset else None,
                "seed": run.seed,
                "status": run.status,
                "initial_config": _clean_json(dict(run.initial_config or {})),
                "final_config": _clean_json(dict(run.config or {})),
                "epochs": run.epoch,
                "actions": run.actions_used,
                "best_val_acc": _finite(run.best_val_acc),
                "test_acc": _finite(run.test_acc),
                "end_reason": run.end_reason,
                "parent_run_id": run.parent_run_id,
                "parent_epoch": run.parent_epoch,
                "created_at": timestamp(run.created_at),
                "ended_at": timestamp(run.ended_at),
            })
        )
    return rows


def epoch_rows(db: Session) -> list[dict]:
    """Every epoch in training order per run (``sequence``), reverted ones included."""
    action_index = dict(db.execute(select(ActionRecord.id, ActionRecord.index)).all())
    rows = []
    sequence: dict[int, int] = {}
    for epoch in db.scalars(select(EpochRecord).order_by(EpochRecord.run_id, EpochRecord.id)):
        sequence[epoch.run_id] = sequence.get(epoch.run_id, 0) + 1
        config = epoch.config or {}
        rows.append(
            _row("epochs", {
                "run_id": epoch.run_id,
                "sequence": sequence[epoch.run_id],
                "number": epoch.number,
                "action_index": action_index.get(epoch.action_id),
                **{f"config_{k}": config.get(k) for k in CONFIG_KEYS},
                "train_loss": _finite(epoch.train_loss),
                "train_acc": epoch.train_acc,
                "val_loss": _finite(epoch.val_loss),
                "val_acc": epoch.val_acc,
                "diverged": bool(epoch.diverged),
                "reverted": bool(epoch.reverted),
                "seconds": epoch.seconds,
                "change": _clean_json(epoch.change) if epoch.change else None,
                "created_at": timestamp(epoch.created_at),
            })
        )
    return rows


def action_rows(db: Session) -> list[dict]:
    """Every action with the time since the run's previous one and the state the player saw."""
    trained = dict(db.execute(select(EpochRecord.action_id, EpochRecord.number)).all())
    rows = []
    previous: dict[int, dt.datetime] = {}
    for action in db.scalars(select(ActionRecord).order_by(ActionRecord.run_id, ActionRecord.index)):
        at = _as_utc(action.created_at)
        before = previous.get(action.run_id)
        previous[action.run_id] = at
        shown = action.shown or {}
        rows.append(
            _row("actions", {
                "run_id": action.run_id,
                "action_index": action.index,
                "kind": action.kind,
                "timestamp": timestamp(at),
                "seconds_since_previous": None if before is None else round((at - before).total_seconds(), 6),
                "choices": _clean_json(dict(action.choices or {})),
                "status": action.status,
                "trained_epoch": trained.get(action.id),
                "shown_action": shown.get("action"),
                "shown_epoch": shown.get("epoch"),
                "shown_best_val_acc": _finite(shown.get("best_val_acc")),
                "shown_train_loss": _finite(shown.get("train_loss")),
                "shown_train_acc": _finite(shown.get("train_acc")),
                "shown_val_loss": _finite(shown.get("val_loss")),
                "shown_val_acc": _finite(shown.get("val_acc")),
                "shown_config": _clean_json(dict(shown.get("config") or {})),
            })
        )
    return rows


def build_tables(db: Session, key: bytes) -> dict[str, list[dict]]:
    """Every table's rows, in TABLES order."""
    built = {
        "participants": participant_rows(db, key),
        "datasets": dataset_rows(db),
        "runs": run_rows(db, key),
        "epochs": epoch_rows(db),
        "actions": action_rows(db),
    }
    return {name: built[name] for name in TABLES}


def table_counts(db: Session) -> dict[str, int]:
    """Rows each table of an export would have now (cheap: COUNT queries)."""

    def count(query) -> int:
        return int(db.scalar(query) or 0)

    return {
        "participants": count(select(func.count()).select_from(Student).where(Student.role != BOT_ROLE)),
        "datasets": count(select(func.count()).select_from(DatasetRecord)),
        "runs": count(select(func.count()).select_from(Run)),
        "epochs": count(select(func.count()).select_from(EpochRecord)),
        "actions": count(select(func.count()).select_from(ActionRecord)),
    }


# ----------------------------------------------------------------------------- writers


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "json":
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "number":
        return repr(float(value))  # repr round-trips every double exactly
    return str(value)


def table_csv(table: Table, rows: Iterable[dict]) -> bytes:
    """A CSV file: header of column names, empty field = null, JSON columns as JSON text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in rows:
        writer.writerow([_csv_cell(c, row[c.name]) for c in table.columns])
    return out.getvalue().encode("utf-8")


def table_jsonl(table: Table, rows: Iterable[dict]) -> bytes:
    """A JSON Lines file: one object per row, keys in column order, JSON columns as values."""
    lines = []
    for row in rows:
        values = {c.name: (float(row[c.name]) if c.type == "number" and row[c.name] is not None else row[c.name])
                  for c in table.columns}
        lines.append(json.dumps(values, allow_nan=False, ensure_ascii=False) + "\n")
    return "".join(lines).encode("utf-8")


def export_files(db: Session, key: bytes, fmt: str = "csv", created_at: dt.datetime | None = None) -> dict[str, bytes]:
    """Every file of an export by name: one per table, manifest.json, and the schema (SCHEMA.md)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    tables = build_tables(db, key)
    write = table_csv if fmt == "csv" else table_jsonl
    files = {TABLES[name].filename(fmt): write(TABLES[name], rows) for name, rows in tables.items()}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created_at": timestamp(created_at or dt.datetime.now(dt.timezone.utc)),
        "format": fmt,
        "tables": {name: {"file": TABLES[name].filename(fmt), "rows": len(rows)} for name, rows in tables.items()},
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    if SCHEMA_DOC.exists():
        files["SCHEMA.md"] = SCHEMA_DOC.read_bytes()
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
