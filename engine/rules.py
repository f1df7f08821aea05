"""The game's limits, checked before any action is carried out."""

from __future__ import annotations

import dataclasses

from engine.actions import Action
from engine.errors import RuleViolation

MAX_ACTIONS = 60
MAX_EPOCHS = 30
MAX_CONSECUTIVE_REVERTS = 5


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a run stands: actions used (the initial configuration counts), epochs, reverts in a row."""

    actions: int
    epoch: int
    consecutive_reverts: int
    ended: bool = False


def end_reason(progress: Progress) -> str | None:
    """Why the run is over by its limits, or None while it may go on."""
    if progress.actions >= MAX_ACTIONS:
        return f"used all {MAX_ACTIONS} actions"
    if progress.epoch >= MAX_EPOCHS:
        return f"trained {MAX_EPOCHS} epochs"
    return None


def revert_block_reason(progress: Progress) -> str | None:
    """Why Revert is impossible now, or None when it is allowed."""
    if progress.epoch <= 0:
        return "no epoch has been trained yet"
    if progress.consecutive_reverts >= MAX_CONSECUTIVE_REVERTS:
        return f"at most {MAX_CONSECUTIVE_REVERTS} reverts in a row; continue training first"
    return None


def check(progress: Progress, action: Action) -> None:
    """Raise RuleViolation if ``action`` may not be taken at ``progress``."""
    if progress.ended:
        raise RuleViolation("this run has ended; start a new dataset to play again")
    reason = end_reason(progress)
    if reason:
        raise RuleViolation(f"this run has ended: it {reason}")
    if action.kind == "revert":
        blocked = revert_block_reason(progress)
        if blocked:
            raise RuleViolation(f"cannot revert: {blocked}")
