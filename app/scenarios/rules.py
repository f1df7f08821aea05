"""What a scenario link pins for a run: its starting configuration and the knobs that may not change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.runs.models import Run
from engine.actions import Action


def pin_configuration(db: Session, run: Run, form: dict[str, str]) -> dict[str, str]:
    """The configure form with the scenario's pinned values in force (the form itself for a pool run)."""
    return form


def check_action(db: Session, run: Run, action: Action) -> None:
    """WebError (422) when ``action`` moves a knob the run's scenario locks or hides."""
    return None
