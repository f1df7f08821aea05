"""The experimental conditions: what each arm shows a player after an epoch."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.runs.models import Run


def hint_for(db: Session, run: Run, condition: str | None) -> dict | None:
    """The hint ``condition`` shows on the run's training page now: {"kind", "text"}, or None."""
    return None
