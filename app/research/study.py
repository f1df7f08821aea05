"""A study in a class: the consent a player gave, and the experimental condition they were assigned."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.settings import Settings


def next_step(db: Session, student: Student, settings: Settings) -> str | None:
    """The page a player must visit before playing ("/consent", "/survey"), or None when they may play."""
    return None


def ensure_assignment(db: Session, student: Student, settings: Settings) -> str | None:
    """Draw the player's condition if the class runs an experiment and they have none yet; returns it."""
    return None


def condition_of(db: Session, student: Student) -> str | None:
    """The player's experimental condition (None: no experiment, no consent, or a bot)."""
    return None
