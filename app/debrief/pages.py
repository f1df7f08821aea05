"""Debrief routes: its data for the result chart (player and instructor), a picked branch, live branch progress."""

from __future__ import annotations


from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.accounts.pages import see_other
from app.classroom.service import visible_to
from app.debrief import planning
from app.debrief.service import debrief_view
from app.errors import Conflict, NotFound, WebError
from app.runs import service as runs
from app.runs import streams
from app.runs.models import OVER, Run
from app.security.ratelimit import client_ip, limits_of
from app.staff.models import INSTRUCTOR
from app.staff.service import require_role
from app.web import DbSession, PostedForm, RecordId, require_student
from app.debrief.models import PENDING, RUNNING

router = APIRouter()


def _ended_run(db: Session, run: Run) -> Run:
    if run.status not in OVER:
        raise Conflict("the debrief is ready once the run has ended")
    return run


@router.get("/runs/{run_id}/debrief.json")
def debrief_json(run_id: RecordId, request: Request, db: DbSession):
    """The debrief of the player's own ended run."""
    student = require_student(request, db)
    run = _ended_run(db, runs.owned_run(db, student, run_id))
    return JSONResponse(debrief_view(db, run))


@router.get("/instructor/runs/{run_id}/debrief.json")
def instructor_debrief_json(run_id: RecordId, request: Request, db: DbSession):
    """The same debrief for an instructor replaying the run."""
    staff = require_role(request, db, INSTRUCTOR)
    run = db.get(Run, run_id)
    if run is None or not visible_to(staff, db.get(Student, run.student_pk)):
        raise NotFound(f"there is no run {run_id}")
    return JSONResponse(debrief_view(db, _ended_run(db, run)))


def parse_epoch(form: dict) -> int:
    """The epoch picked on the result page's chart or list."""
    try:
        return int(form.get("from_epoch", ""))
    except ValueError:
        raise WebError("choose an epoch to branch from", 422) from None


@router.post("/runs/{run_id}/branches")
def pick_branch(run_id: RecordId, request: Request, posted: PostedForm,
                db: DbSession):
    """The player picks an epoch: the automatic player continues from its checkpoint in the background."""
    student = require_student(request, db)
    limits_of(request).check("action", ip=client_ip(request), student=student.id)
    run = _ended_run(db, runs.owned_run(db, student, run_id, lock=True))
    planning.request_branch(db, run, parse_epoch({k: str(v) for k, v in posted.items()}))
    db.commit()  # the branch's job goes to the runner with this commit
    return see_other(f"/runs/{run_id}/result#debrief")


def _snapshot(session_factory, run_id: int) -> dict:
    with session_factory() as db:
        branches = planning.branches_of(db, db.get(Run, run_id))
        return {"branches": [{"id": b.id, "status": b.status, "done": b.epochs_done, "total": b.epochs_total}
                             for b in branches],
                "busy": any(b.status in (PENDING, RUNNING) for b in branches)}


@router.get("/runs/{run_id}/debrief/events")
async def debrief_events(run_id: RecordId, request: Request):
    """Server-sent events: each branch's epochs as they train, then "ready" when none is left to compute."""
    # Branch jobs nudge their parent run; the branches re-read every STREAM_POLL_SECONDS without backing off.
    return await streams.run_events(request, run_id, _snapshot, max_wait=streams.STREAM_POLL_SECONDS)
