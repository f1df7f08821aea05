"""Creating scenario links, finding them by token, listing them, and starting a run from one."""

from __future__ import annotations

import math
import random
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.classroom.service import PLAYABLE_FAMILIES
from app.datasets import service as datasets
from app.datasets.models import JOB_DONE, REFERENCES_JOB, DatasetRecord
from app.errors import NotFound, WebError
from app.jobs.queue import enqueue
from app.runs.models import Run
from app.scenarios.models import Scenario
from engine.config import DISPLAY_ORDER, INITIAL_CHOICES

#: Every knob a scenario may lock or hide, in the order every page shows knobs.
SCENARIO_KNOBS = DISPLAY_ORDER
#: How knobs are named in sentences ("the learning rate is fixed in this scenario").
KNOB_PHRASES = {
    "width": "network width",
    "depth": "network depth",
    "lr": "learning rate",
    "dropout": "dropout rate",
    "weight_decay": "weight decay",
}
#: What a hidden knob that is not pinned starts at: the configure page's preselected values.
HIDDEN_DEFAULTS = {"width": 64, "lr": 0.01, "depth": 4, "dropout": 0.0}
TITLE_MAX = 120
#: Dataset seeds are stored in a 32-bit integer column.
SEED_MAX = 2**31 - 1


def value_text(value: float) -> str:
    """A pinned value as the forms post it ("0.01", "64")."""
    return f"{value:g}"


def _pinned_value(knob: str, raw: str) -> float | None:
    """The pinned value of one knob from the form: None for "player's choice", else one of the offered choices."""
    raw = raw.strip()
    if raw == "":
        return None
    options = INITIAL_CHOICES[knob]
    offered = ", ".join(value_text(o) for o in options)
    try:
        value = float(raw)
    except ValueError:
        raise WebError(f"the {KNOB_PHRASES[knob]} must be the player's choice or one of {offered}", 422) from None
    match = next((o for o in options if math.isclose(value, o)), None)
    if match is None:
        raise WebError(f"the {KNOB_PHRASES[knob]} must be the player's choice or one of {offered}", 422)
    return match


def _knob_list(values: list[str], what: str) -> list[str]:
    """Knob names from checkboxes, in page order; an unknown name is a 422."""
    unknown = sorted(set(values) - set(SCENARIO_KNOBS))
    if unknown:
        raise WebError(f"cannot {what} unknown knob {unknown[0]!r}; knobs are {', '.join(SCENARIO_KNOBS)}", 422)
    return [k for k in SCENARIO_KNOBS if k in values]


def parse_form(form: dict) -> dict:
    """The scenario fields from the instructor's form; WebError (422) naming the first bad field.

    ``form``: title, family, seed, ``pin_<knob>`` per initial knob, and ``lock`` / ``hide`` lists.
    """
    title = str(form.get("title", "")).strip()
    if not title:
        raise WebError("give the scenario a title", 422)
    if len(title) > TITLE_MAX:
        raise WebError(f"the title must be at most {TITLE_MAX} characters", 422)
    family = str(form.get("family", "")).strip()
    if family not in PLAYABLE_FAMILIES:
        raise WebError(f"unknown dataset family {family!r}; choose one of {', '.join(PLAYABLE_FAMILIES)}", 422)
    raw_seed = str(form.get("seed", "")).strip()
    try:
        seed = int(raw_seed)
    except ValueError:
        raise WebError(f"the seed must be a whole number from 0 to {SEED_MAX}", 422) from None
    if not 0 <= seed <= SEED_MAX:
        raise WebError(f"the seed must be a whole number from 0 to {SEED_MAX}", 422)
    config = {}
    for knob in INITIAL_CHOICES:
        value = _pinned_value(knob, str(form.get(f"pin_{knob}", "")))
        if value is not None:
            config[knob] = value
    hidden = _knob_list([str(v) for v in form.get("hide", [])], "hide")
    # Hidden implies locked: a knob the player cannot see must not move either.
    locked = _knob_list([str(v) for v in form.get("lock", [])] + hidden, "lock")
    for knob in hidden:
        # A hidden knob still needs a starting value; the player cannot choose it.
        if knob in HIDDEN_DEFAULTS and knob not in config:
            config[knob] = HIDDEN_DEFAULTS[knob]
    return {"title": title, "family": family, "seed": seed, "config": config, "locked": locked, "hidden": hidden}


def create_scenario(db: Session, form: dict, size: str, created_by: str | None) -> tuple[Scenario, bool]:
    """A new scenario from the instructor's form on (family, seed, ``size``).

    Returns the scenario and whether its dataset was created now (its baselines job is then enqueued
    with it). A dataset pools passed over (too little to learn) may still be pinned on purpose: its
    reference players, which pools never needed, are computed for the scenario's debriefs.
    """
    fields = parse_form(form)
    dataset, created = datasets.get_or_create(db, fields["family"], fields["seed"], size)
    if dataset.rejected_reason is not None:
        enqueue(db, REFERENCES_JOB, dataset.id)
    scenario = Scenario(token=_new_token(db), title=fields["title"], dataset_id=dataset.id, config=fields["config"],
                        locked=fields["locked"], hidden=fields["hidden"], created_by=created_by)
    db.add(scenario)
    db.flush()
    return scenario, created


def _new_token(db: Session) -> str:
    """An unguessable token no scenario has yet (12 characters of URL-safe base64)."""
    while True:
        token = secrets.token_urlsafe(9)
        if db.scalar(select(Scenario.id).where(Scenario.token == token)) is None:
            return token


def by_token(db: Session, token: str) -> Scenario:
    """The scenario of a link; NotFound (404) for a token no scenario has."""
    scenario = db.scalar(select(Scenario).where(Scenario.token == token)) if len(token) <= 32 else None
    if scenario is None:
        raise NotFound("there is no scenario at this link; check it with your instructor")
    return scenario


def describe(scenario: Scenario, dataset: DatasetRecord) -> dict:
    """What the pages say about a scenario: per knob whether it is pinned, locked or hidden."""
    knobs = []
    for knob in SCENARIO_KNOBS:
        if knob in scenario.config:
            start = value_text(scenario.config[knob])
        elif knob == "weight_decay":
            start = "0"  # every run starts without weight decay
        else:
            start = None  # the player's choice
        knobs.append({"knob": knob, "phrase": KNOB_PHRASES[knob], "start": start,
                      "locked": knob in scenario.locked, "hidden": knob in scenario.hidden})
    return {
        "scenario": scenario,
        "dataset": dataset,
        "knobs": knobs,
        "all_locked": all(k["locked"] for k in knobs),
        "free": [k["phrase"] for k in knobs if not k["locked"]],
    }


def scenario_rows(db: Session) -> list[dict]:
    """Every scenario, newest first, with its dataset, knob rules and how many players started it."""
    players = dict(db.execute(select(Run.scenario_id, func.count(func.distinct(Run.student_pk)))
                              .where(Run.scenario_id.is_not(None)).group_by(Run.scenario_id)).all())
    rows = []
    for scenario, dataset in db.execute(select(Scenario, DatasetRecord).join(DatasetRecord, DatasetRecord.id == Scenario.dataset_id)
                                        .order_by(Scenario.id.desc())):
        rows.append({**describe(scenario, dataset), "players": players.get(scenario.id, 0)})
    return rows


def start_scenario_run(db: Session, student: Student, scenario: Scenario, rng: random.Random | None = None) -> Run | None:
    """A new run on the scenario's dataset, waiting for its initial configuration; None until the baselines are done."""
    dataset = db.get(DatasetRecord, scenario.dataset_id)
    if dataset.baseline_status != JOB_DONE:
        return None
    from app.runs import service as runs_service  # here: app.runs.service imports this domain's rules

    return runs_service.new_run(db, student, dataset.id, rng, scenario_id=scenario.id)
