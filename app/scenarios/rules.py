"""What a scenario link pins for a run: its starting configuration and the knobs that may not change."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import WebError
from app.runs.models import Run
from app.scenarios.models import Scenario
from app.scenarios.service import HIDDEN_DEFAULTS, KNOB_PHRASES, value_text
from engine.actions import Action
from engine.config import INITIAL_CHOICES


def scenario_of(db: Session, run: Run) -> Scenario | None:
    """The scenario the run was started from, or None for a pool run."""
    return db.get(Scenario, run.scenario_id) if run.scenario_id is not None else None


def pin_configuration(db: Session, run: Run, form: dict[str, str]) -> dict[str, str]:
    """The configure form with the scenario's pinned values in force (the form itself for a pool run)."""
    scenario = scenario_of(db, run)
    if scenario is None:
        return form
    pinned = dict(form)
    for knob in INITIAL_CHOICES:
        # The server decides pinned values: whatever the browser posted for them is ignored.
        if knob in scenario.config:
            pinned[knob] = value_text(scenario.config[knob])
        elif knob in scenario.hidden:
            pinned[knob] = value_text(HIDDEN_DEFAULTS[knob])
    return pinned


def fixed_knobs(scenario: Scenario) -> set[str]:
    """Knobs that keep their value during training: the locked ones and the hidden ones."""
    return set(scenario.locked or []) | set(scenario.hidden or [])


def check_action(db: Session, run: Run, action: Action) -> None:
    """WebError (422) when ``action`` moves a knob the run's scenario locks or hides."""
    if action.kind != "continue" or not action.change_map:
        return None
    scenario = scenario_of(db, run)
    if scenario is None:
        return None
    fixed = fixed_knobs(scenario)
    for knob in action.change_map:
        if knob in fixed:
            raise WebError(f"the {KNOB_PHRASES[knob]} is fixed in this scenario", 422)
    return None


def view(db: Session, run: Run) -> dict | None:
    """What the configure and training pages need about the run's scenario; None for a pool run."""
    scenario = scenario_of(db, run)
    if scenario is None:
        return None
    return {
        "title": scenario.title,
        "token": scenario.token,
        "pinned": {knob: value_text(value) for knob, value in scenario.config.items()},
        "locked": sorted(fixed_knobs(scenario)),
        "hidden": list(scenario.hidden or []),
    }
