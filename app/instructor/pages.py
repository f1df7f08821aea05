"""Instructor pages: dashboard, a student's runs, a run's replay beside the bot's, settings, standings."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from app.accounts.models import Student
from app.accounts.pages import see_other
from app.classroom.service import (PLAYABLE_FAMILIES, allowed_families, class_id_of, class_of, class_settings,
                                    update_from_form, visible_to)
from app.datasets.models import DatasetRecord
from app.datasets.service import PoolReadiness, ensure_pool, pool_readiness
from app.errors import NotFound, WebError
from app.grades import policy as grade_policy
from app.grades import service as grade_service
from app.instructor import service
from app.jobs import registry
from app.jobs import service as jobs_service
from app.jobs.lanes import LABELS as LANE_LABELS
from app.debrief.service import debrief_view
from app.instructor.replay import describe_choice, replay_steps
from app.runs import abandon
from app.runs.models import OVER, Run
from app.staff.models import INSTRUCTOR
from app.staff.service import require_role
from app.web import DbSession, PostedForm, RecordId, render

router = APIRouter(prefix="/instructor")


def _page(request: Request, db: Session, template: str, context: dict, status_code: int = 200):
    staff = require_role(request, db, INSTRUCTOR)
    return render(request, template, {"student": None, "staff": staff, **context}, status_code)


@router.get("")
def dashboard(request: Request, db: DbSession):
    """Class overview and the list of students."""
    _, row = _staff_class(request, db)
    if abandon.abandon_idle(db, row):  # runs idle past the class's timeout get their end before they are counted
        db.commit()
    students = service.student_rows(db, row.id)
    # The consent and condition columns appear once a study runs (or ran: answers stay on record).
    study_on = row.research_enabled or any(s["consent"] != "not asked" or s["condition"] for s in students)
    return _page(request, db, "instructor/dashboard.html", {
        "passback": grade_service.summary(db, row), "lms_course": grade_service.is_course(db, row),
        "overview": service.overview(db, row.id), "students": students, "class": row, "study_on": study_on,
        "pool": _pool(db, request.app.state.settings, row),
        "backlog": jobs_service.backlog(db), "failed_jobs": jobs_service.failed_jobs(db, row.id),
        "kinds": registry.load_all(), "lane_labels": LANE_LABELS,
    })


#: How often the dashboard's pool stream re-reads the pool while baselines compute.
POOL_POLL_SECONDS = 2.0


def _pool(db: Session, settings, row=None) -> PoolReadiness:
    """The class pool's readiness (``row``: the class settings, when the caller has read them already)."""
    row = row or class_settings(db, settings)
    return pool_readiness(db, row.pool_size, allowed_families(row), settings.dataset_size, settings.baseline_epochs)


def _pool_snapshot(session_factory, settings, class_id: int) -> dict:
    with session_factory() as db:
        return _pool(db, settings, class_settings(db, settings, class_id)).as_dict()


def _staff_class(request: Request, db: Session):
    """The instructor signed in, and the settings of their class (an LMS course's, or the default class)."""
    staff = require_role(request, db, INSTRUCTOR)
    return staff, class_of(db, staff, request.app.state.settings)


def _authorize_instructor(request: Request) -> int:
    """The stream's role check, with a session that is closed before the stream starts; the instructor's class."""
    with request.app.state.session_factory() as db:
        return class_id_of(require_role(request, db, INSTRUCTOR))


def _check_class(db: Session, staff, student: Student | None) -> None:
    """404 for a player of another class: an instructor sees only their own class (bots belong to none)."""
    if student is not None and not visible_to(staff, student):
        raise NotFound("there is no such student in your class")


@router.get("/pool.json")
def pool_json(request: Request, db: DbSession):
    """The pool's readiness: per dataset status, progress and baselines."""
    _, row = _staff_class(request, db)
    return JSONResponse(_pool(db, request.app.state.settings, row).as_dict())


@router.get("/pool/events")
async def pool_events(request: Request):
    """Server-sent events: the pool's readiness whenever it changes, until every dataset is ready."""
    class_id = await run_in_threadpool(_authorize_instructor, request)
    factory, settings = request.app.state.session_factory, request.app.state.settings

    async def stream():
        last = None
        while True:
            try:
                snapshot = await run_in_threadpool(_pool_snapshot, factory, settings, class_id)
            except SQLAlchemyError:
                snapshot = last  # the database is briefly unreachable: keep the stream open
            if snapshot is not None and snapshot != last:
                yield {"event": "pool", "data": json.dumps(snapshot)}
                last = snapshot
                if snapshot["finished"]:
                    return
            await asyncio.sleep(POOL_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


@router.get("/students/{student_pk}")
def student_page(student_pk: RecordId, request: Request, db: DbSession):
    """One student's runs."""
    staff = require_role(request, db, INSTRUCTOR)
    student = db.get(Student, student_pk)
    if student is None or student.is_bot:
        raise NotFound(f"there is no student {student_pk}")
    _check_class(db, staff, student)
    return _page(request, db, "instructor/student.html", {"who": student, "runs": service.student_runs(db, student),
                                                           "study": service.study_status(db, student)})


def _run_or_404(db: Session, run_id: int, staff) -> Run:
    run = db.get(Run, run_id)
    if run is None:
        raise NotFound(f"there is no run {run_id}")
    _check_class(db, staff, db.get(Student, run.student_pk))
    return run


def _bot_run(db: Session, dataset: DatasetRecord) -> Run | None:
    return db.get(Run, dataset.bot_run_id) if dataset.bot_run_id else None


@router.get("/runs/{run_id}/replay")
def replay_page(run_id: RecordId, request: Request, db: DbSession):
    """A run replayed action by action, beside the bot's run on the same dataset."""
    staff = require_role(request, db, INSTRUCTOR)
    run = _run_or_404(db, run_id, staff)
    dataset = db.get(DatasetRecord, run.dataset_id)
    bot = _bot_run(db, dataset)
    columns = [{"title": db.get(Student, run.student_pk).name, "run": run, "steps": replay_steps(db, run)}]
    if bot is not None and bot.id != run.id:
        columns.append({"title": "Automatic player", "run": bot, "steps": replay_steps(db, bot)})
    debrief = None
    if run.status in OVER and run.parent_run_id is None:
        # The player's debrief, read-only here: picking branches is the player's.
        debrief = {**debrief_view(db, run), "branchable": [], "picks_left": 0, "busy": False}
    return _page(request, db, "instructor/replay.html", {"run": run, "dataset": dataset, "columns": columns,
                                                          "describe": describe_choice, "debrief": debrief})


@router.get("/runs/{run_id}/replay.json")
def replay_json(run_id: RecordId, request: Request, db: DbSession):
    """The replay's steps (and the bot's) for the step-through charts."""
    staff = require_role(request, db, INSTRUCTOR)
    run = _run_or_404(db, run_id, staff)
    bot = _bot_run(db, db.get(DatasetRecord, run.dataset_id))
    return JSONResponse({"player": replay_steps(db, run),
                         "bot": replay_steps(db, bot) if bot is not None and bot.id != run.id else None})


@router.get("/settings")
def settings_page(request: Request, db: DbSession):
    """The class settings form."""
    require_role(request, db, INSTRUCTOR)
    return _settings(request, db, None, False, 200)


def _settings(request: Request, db: Session, error: str | None, saved: bool, status_code: int):
    _, row = _staff_class(request, db)
    return _page(request, db, "instructor/settings.html", {"class": row, "families": PLAYABLE_FAMILIES, "error": error,
                                                            "saved": saved, "instruments": INSTRUMENT_CHOICES,
                                                            "grade_modes": grade_policy.GRADE_MODES,
                                                            "max_grade_runs": grade_policy.MAX_RUNS_REQUIRED}, status_code)


#: The settings page's research instruments: (field, legend, what the player sees in each mode).
INSTRUMENT_CHOICES = (
    ("predictions", "Predictions", {
        "off": "Players just train; no prediction is asked.",
        "optional": "Before each epoch, players may predict its validation accuracy and say how sure they are.",
        "required": "Players must predict the next epoch's validation accuracy before every Continue.",
    }),
    ("reasons", "Reason chips", {
        "off": "No reason is asked for an action.",
        "optional": "Players may tick reasons (plateau, overfitting, …) for each action on the training page.",
        "required": "Players must give a reason (a chip or a few words) for every training-page action.",
    }),
)


@router.post("/settings")
def save_settings(request: Request, posted: PostedForm, db: DbSession):
    """Save the class settings; new pool datasets start computing their baselines."""
    settings = request.app.state.settings
    _, row = _staff_class(request, db)
    form = {"class_code": posted.get("class_code", ""), "pool_size": posted.get("pool_size", ""),
            "families": posted.getlist("families"), "reveal_test_accuracy": posted.get("reveal_test_accuracy", ""),
            "predictions": posted.get("predictions"), "reasons": posted.get("reasons"),
            "allow_exact_times": posted.get("allow_exact_times", ""),
            "abandon_after_minutes": posted.get("abandon_after_minutes"),
            "grade_mode": posted.get("grade_mode"), "grade_runs": posted.get("grade_runs")}
    try:
        update_from_form(row, form)
        grade_policy.update_from_form(row, form)
    except WebError as exc:
        db.rollback()
        return _settings(request, db, exc.message, False, exc.status_code)
    ensure_pool(db, row.pool_size, allowed_families(row), settings.dataset_size)
    db.commit()  # new pool datasets' baselines jobs go to the runner with this commit
    return _settings(request, db, None, True, 200)


@router.post("/grades")
def post_grades(request: Request, _: PostedForm, db: DbSession):
    """"Post grades now": every launched student's current grade goes to the course's gradebook."""
    _, row = _staff_class(request, db)
    planned = grade_service.plan_for_class(db, row)
    db.commit()  # the posts' jobs go to the I/O lane with this commit
    return see_other(f"/instructor?posted={len(planned)}#grades")


@router.post("/jobs/{job_id}/retry")
def retry_job(job_id: RecordId, request: Request, _: PostedForm,
              db: DbSession):
    """Run a failed background job again from scratch (its subject is reset by its kind)."""
    _, row = _staff_class(request, db)
    jobs_service.retry(db, job_id, row.id)
    db.commit()  # the job goes back to its runner with this commit
    return see_other(f"/instructor?retried={job_id}#jobs")


@router.get("/jobs.json")
def jobs_json(request: Request, db: DbSession):
    """The background backlog per lane and kind, and this class's failed jobs (for scripts and monitoring)."""
    _, row = _staff_class(request, db)
    return JSONResponse({
        "backlog": [dataclasses.asdict(entry) for entry in jobs_service.backlog(db)],
        "failed": [{"id": f.job.id, "kind": f.job.kind, "subject": f.subject.label, "error": f.job.last_error,
                    "attempts": f.job.attempts, "retries": f.job.retries} for f in jobs_service.failed_jobs(db, row.id)],
    })


@router.get("/standings.csv")
def standings(request: Request, db: DbSession):
    """The overall standings as a CSV download."""
    _, row = _staff_class(request, db)
    return Response(service.standings_csv(db, row.id), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="hyperquest-standings.csv"'})
