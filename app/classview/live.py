"""The live class: one tile per student (their current run) and the alerts of the runs in play."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student, is_human
from app.classroom.service import in_class
from app.classview.history import actions_and_epochs, steps_of
from app.datasets.models import DatasetRecord
from app.db.base import as_utc, utcnow
from app.instructor.replay import describe_choice
from app.runs.models import OVER, READY, Run
from engine import alerts as engine_alerts


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _latest_runs(db: Session, class_id: int) -> tuple[list[Student], dict[int, tuple[Run, DatasetRecord]]]:
    """The class's human players by name, and each one's newest own run (debrief branches are the bot's)."""
    students = list(db.scalars(select(Student).where(is_human(), in_class(Student.class_id, class_id))
                               .order_by(Student.name, Student.id)))
    latest: dict[int, tuple[Run, DatasetRecord]] = {}
    rows = db.execute(
        select(Run, DatasetRecord).join(DatasetRecord, DatasetRecord.id == Run.dataset_id)
        .join(Student, Student.id == Run.student_pk)
        .where(is_human(), in_class(Student.class_id, class_id), Run.parent_run_id.is_(None))
        .order_by(Run.id)
    ).all()
    for run, dataset in rows:
        latest[run.student_pk] = (run, dataset)  # ordered by id: the last one wins
    return students, latest


def snapshot(db: Session, class_id: int, now: dt.datetime | None = None,
             idle_minutes: float = engine_alerts.IDLE_MINUTES) -> dict:
    """The live page's data: {"tiles": [...], "alerts": [...], "playing": n}; JSON-ready and stable between
    calls while nothing changes (times are absolute, the page counts "ago" itself)."""
    now = now or utcnow()
    students, latest = _latest_runs(db, class_id)
    history = actions_and_epochs(db, [run.id for run, _ in latest.values()])
    tiles, every_alert = [], []
    for student in students:
        tile = {"student_pk": student.id, "name": student.name, "student_id": student.student_id, "run_id": None,
                "status": "not started", "dataset": None, "epoch": 0, "best": None, "last_action": None,
                "last_at": None, "alerts": [], "replay": None}
        if student.id in latest:
            run, dataset = latest[student.id]
            tile.update(_run_tile(run, dataset, history.get(run.id, []), now, idle_minutes))
            for alert in tile["alerts"]:
                every_alert.append({**alert, "name": student.name, "student_pk": student.id, "run_id": run.id,
                                    "replay": tile["replay"]})
        tiles.append(tile)
    # Students who need help first, then by name.
    tiles.sort(key=lambda t: (not t["alerts"], t["name"].lower()))
    every_alert.sort(key=lambda a: a["raised_at"] or "", reverse=True)
    return {"tiles": tiles, "alerts": every_alert, "playing": sum(t["status"] not in OVER + ("not started",) for t in tiles)}


def _run_tile(run: Run, dataset: DatasetRecord, pairs: list, now: dt.datetime, idle_minutes: float) -> dict:
    """A tile's run fields and, for a run still in play, its open alerts."""
    last_action, last_at = None, None
    if pairs:
        action, epoch = pairs[-1]
        step = {"kind": action.kind, "choices": action.choices}
        last_action = describe_choice(step)
        # The player's last move, or the epoch it trained if that finished later (what they have looked at since).
        last_at = max(as_utc(action.created_at), as_utc(epoch.created_at)) if epoch is not None else as_utc(action.created_at)
    fields = {"run_id": run.id, "status": run.status, "dataset": f"{dataset.family} #{dataset.seed}",
              "epoch": run.epoch, "best": run.best_val_acc, "last_action": last_action, "last_at": _iso(last_at),
              "replay": f"/instructor/runs/{run.id}/replay", "alerts": []}
    if run.status in OVER:
        return fields
    steps, sources = steps_of(pairs)
    # Idle only while the page waits for the player (not while an epoch trains).
    waiting = (now - last_at).total_seconds() if run.status == READY and last_at is not None else None
    found = engine_alerts.open_alerts(engine_alerts.run_alerts(steps, waiting, idle_minutes))
    fields["alerts"] = [_alert_dict(a, sources) for a in found]
    return fields


def _alert_dict(alert: engine_alerts.Alert, sources: list) -> dict:
    """An alert with the time of the action or epoch that raised it (the idle alert: none)."""
    raised_at = None
    if alert.step is not None:
        action, epoch = sources[alert.step]
        raised_at = _iso(epoch.created_at if epoch is not None else action.created_at)
    return {**alert.as_dict(), "raised_at": raised_at}
