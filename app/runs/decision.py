"""Decision time: how long a player looked at a finished epoch before the next submit, without the training wait.

The time between two submits includes the epoch training in between (a stalled 31 s epoch would
read as 31 s of thought), so each action stores its own decision time instead: measured by the
page, from when it showed the finished epoch (or the configure page) to the submit ("page"); or,
when no such measure came with the form (no JavaScript, the automatic player), from the moment
the server had finished what the player was looking at: the previous epoch, Revert, or the run's
start ("epoch_end").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.base import as_utc
from app.runs.models import ActionRecord, Run

PAGE, EPOCH_END = "page", "epoch_end"
#: The hidden form field the pages fill in (static/js/decision.js), in milliseconds.
FIELD = "decision_ms"
#: A longer "decision" is a page left open: kept, but never more than a day.
MAX_SECONDS = 86_400.0


def parse_page_measure(raw: object) -> float | None:
    """Seconds from the form's ``decision_ms``; None when absent or not a sane number (the server measures then)."""
    try:
        ms = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    if not 0 <= ms <= MAX_SECONDS * 1000:
        return None
    return round(ms / 1000, 3)


def shown_since(db: Session, run: Run) -> dt.datetime | None:
    """When the server finished what the player is deciding on: the last finished action, else the run's start."""
    finished = db.scalar(select(ActionRecord.finished_at).where(ActionRecord.run_id == run.id,
                                                                ActionRecord.finished_at.is_not(None))
                         .order_by(ActionRecord.index.desc()).limit(1))
    return finished or run.created_at


def decision_columns(db: Session, run: Run, page_seconds: float | None, now: dt.datetime) -> dict:
    """The action's ``decision_seconds`` and ``decision_from``: the page's measure, else the server's."""
    if page_seconds is not None:
        return {"decision_seconds": page_seconds, "decision_from": PAGE}
    since = shown_since(db, run)
    if since is None:
        return {"decision_seconds": None, "decision_from": None}
    seconds = max(0.0, (as_utc(now) - as_utc(since)).total_seconds())
    return {"decision_seconds": round(min(seconds, MAX_SECONDS), 3), "decision_from": EPOCH_END}
