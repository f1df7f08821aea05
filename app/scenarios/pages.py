"""Scenario links: instructors create them, players follow them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import pending
from app.accounts.pages import see_other
from app.classroom.service import PLAYABLE_FAMILIES
from app.datasets.models import JOB_FAILED, DatasetRecord
from app.db.base import utcnow
from app.errors import Conflict, WebError
from app.leaderboard.service import scenario_board
from app.research import study
from app.runs.models import OVER, Run
from app.scenarios import service
from app.security.ratelimit import client_ip, limits_of
from app.staff.models import INSTRUCTOR
from app.staff.service import current_staff, require_role
from app.web import DbSession, PostedForm, current_student, render, require_student
from engine.config import INITIAL_CHOICES

router = APIRouter()

#: The token part of a link; anything else cannot be a scenario (a 404 page, not a query).
Token = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


def link_of(request: Request, token: str) -> str:
    """The full link players follow, on the address the instructor is using now."""
    return f"{str(request.base_url).rstrip('/')}/s/{token}"


# ----------------------------------------------------------------------------- instructor


@router.get("/instructor/scenarios")
def scenarios_page(request: Request, db: DbSession, created: str = ""):
    """The instructor's scenario links and the form that creates one."""
    require_role(request, db, INSTRUCTOR)
    return _scenarios(request, db, None, {}, created, 200)


def _scenarios(request: Request, db: Session, error: str | None, form: dict, created: str, status_code: int):
    staff = require_role(request, db, INSTRUCTOR)
    rows = service.scenario_rows(db)
    for row in rows:
        row["link"] = link_of(request, row["scenario"].token)
    context = {
        "student": None, "staff": staff, "rows": rows, "families": PLAYABLE_FAMILIES, "choices": INITIAL_CHOICES,
        "knobs": service.SCENARIO_KNOBS, "phrases": service.KNOB_PHRASES, "error": error, "form": form,
        "created": next((r for r in rows if r["scenario"].token == created), None),
    }
    return render(request, "instructor/scenarios.html", context, status_code)


@router.post("/instructor/scenarios")
def create(request: Request, posted: PostedForm, db: DbSession):
    """Create a scenario link; a new dataset starts computing its baselines at once."""
    staff = require_role(request, db, INSTRUCTOR)
    form = {"title": str(posted.get("title", "")), "family": str(posted.get("family", "")),
            "seed": str(posted.get("seed", "")),
            **{f"pin_{k}": str(posted.get(f"pin_{k}", "")) for k in INITIAL_CHOICES},
            "lock": [str(v) for v in posted.getlist("lock")], "hide": [str(v) for v in posted.getlist("hide")]}
    try:
        scenario, _ = service.create_scenario(db, form, request.app.state.settings.dataset_size, staff.username)
    except WebError as exc:
        db.rollback()
        return _scenarios(request, db, exc.message, form, "", exc.status_code)
    db.commit()
    return see_other(f"/instructor/scenarios?created={scenario.token}")


# ----------------------------------------------------------------------------- players


def _login_first(path: str):
    """Back here after logging in (the login page accepts ``next`` paths under /s/ only)."""
    return see_other(f"/login?next={path}")


@router.get("/s/{token}")
def landing(token: Token, request: Request, db: DbSession):
    """The page a scenario link opens: what is fixed, and Start."""
    scenario = service.by_token(db, token)
    student = current_student(request, db)
    staff = current_staff(request, db)
    if student is None and staff is None:
        return _login_first(f"/s/{token}")
    if student is not None:
        step = study.next_step(db, student, request.app.state.settings)
        if step is not None:  # consent or survey first, then back here
            pending.remember(request, f"/s/{token}")
            return see_other(step)
    dataset = db.get(DatasetRecord, scenario.dataset_id)
    current = None
    if student is not None:
        # A run of this scenario the player has not finished: offer to go back to it.
        current = db.scalar(select(Run).where(Run.student_pk == student.id, Run.scenario_id == scenario.id,
                                              Run.status.not_in(OVER)).order_by(Run.id.desc()).limit(1))
    context = {"student": student, "staff": None if student else staff, **service.describe(scenario, dataset),
               "current": current}
    return render(request, "scenario.html", context)


@router.post("/s/{token}/runs")
def start(token: Token, request: Request, _: PostedForm, db: DbSession):
    """Start a run of the scenario: its dataset, then its initial configuration page."""
    scenario = service.by_token(db, token)
    student = require_student(request, db)
    limits_of(request).check("action", ip=client_ip(request), student=student.id)
    settings = request.app.state.settings
    step = study.next_step(db, student, settings)
    if step is not None:
        pending.remember(request, f"/s/{token}")
        return see_other(step)
    study.ensure_assignment(db, student, settings)
    run = service.start_scenario_run(db, student, scenario)
    if run is None:
        if db.get(DatasetRecord, scenario.dataset_id).baseline_status == JOB_FAILED:
            raise Conflict("this scenario's dataset could not be prepared; please tell your instructor")
        db.commit()
        return see_other(f"/s/{token}")  # still preparing: the page says so and refreshes itself
    db.commit()
    pending.forget(request)
    return see_other(f"/runs/{run.id}/configure")


@router.get("/s/{token}/leaderboard")
def leaderboard(token: Token, request: Request, db: DbSession):
    """The scenario's own leaderboard: only runs started from its link, beside the dataset's baselines."""
    scenario = service.by_token(db, token)
    student = current_student(request, db)
    staff = current_staff(request, db)
    if student is None and staff is None:
        return _login_first(f"/s/{token}/leaderboard")
    dataset = db.get(DatasetRecord, scenario.dataset_id)
    context = {"student": student, "staff": None if student else staff, "scenario": service.describe(scenario, dataset),
               "boards": [scenario_board(db, scenario.id, dataset)], "overall": [], "computed_at": utcnow()}
    return render(request, "leaderboard.html", context)
