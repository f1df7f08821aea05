"""The live class page (tiles, alerts, messages) and the players' message stream."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from app.accounts.models import Student
from app.accounts.pages import see_other
from app.classroom.service import class_id_of, class_of
from app.classview import live, messages
from app.classview.analysis_pages import router as analysis_router
from app.errors import WebError
from app.staff.models import INSTRUCTOR
from app.staff.service import require_role
from app.web import DbSession, PostedForm, render, require_student

router = APIRouter()
router.include_router(analysis_router)

#: The live stream re-reads the class at least this often (idle alerts need the clock, not a nudge) ...
LIVE_POLL_SECONDS = 3.0
#: ... and at most this often: an epoch's progress nudges arrive many times a second.
LIVE_MIN_INTERVAL = 0.5
#: A player's message stream re-reads this often when no nudge comes (another web process sent it).
MESSAGE_POLL_SECONDS = 2.0


def _instructor(request: Request, db) -> tuple[object, int]:
    """The instructor signed in and their class id (403 for students and researchers)."""
    staff = require_role(request, db, INSTRUCTOR)
    return staff, class_of(db, staff, request.app.state.settings).id


@router.get("/instructor/live")
def live_page(request: Request, db: DbSession, to: str | None = None, sent: int | None = None):
    """The class now: a tile per student, the alerts of runs in play, and the message form."""
    staff, class_id = _instructor(request, db)
    return _live(request, db, staff, class_id, to, sent, None, 200)


def _live(request, db, staff, class_id: int, to, sent, error: str | None, status_code: int, text: str = ""):
    data = live.snapshot(db, class_id)
    return render(request, "instructor/live.html", {
        "student": None, "staff": staff, "data": data, "to": to or messages.EVERYONE, "sent": sent, "error": error,
        "text": text, "history": messages.sent_in_class(db, class_id), "idle_minutes": live.engine_alerts.IDLE_MINUTES,
    }, status_code)


@router.get("/instructor/live.json")
def live_json(request: Request, db: DbSession):
    """The live page's data (tiles and alerts) for scripts."""
    _, class_id = _instructor(request, db)
    return JSONResponse(live.snapshot(db, class_id))


def _authorize_instructor(request: Request) -> int:
    with request.app.state.session_factory() as db:
        return _instructor(request, db)[1]


def _class_snapshot(factory, class_id: int) -> dict:
    with factory() as db:
        return live.snapshot(db, class_id)


@router.get("/instructor/live/events")
async def live_events(request: Request):
    """Server-sent events: the class's tiles and alerts whenever they change (any run's nudge, or the clock)."""
    class_id = await run_in_threadpool(_authorize_instructor, request)
    factory, notifier = request.app.state.session_factory, request.app.state.notifier

    async def stream():
        last = None
        # Subscribed before the first read: a nudge that lands while the class is read is not lost.
        with notifier.subscribe_all() as nudges:
            while True:
                try:
                    current = await run_in_threadpool(_class_snapshot, factory, class_id)
                except SQLAlchemyError:
                    current = last  # the database is briefly unreachable: keep the stream open
                if current is not None and current != last:
                    yield {"event": "class", "data": json.dumps(current)}
                    last = current
                await asyncio.sleep(LIVE_MIN_INTERVAL)
                await nudges.wait(LIVE_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)


@router.post("/instructor/messages")
def send_message(request: Request, posted: PostedForm, db: DbSession):
    """Send a message to the whole class or one student; it appears on their training page."""
    staff, class_id = _instructor(request, db)
    to, text = str(posted.get("to", messages.EVERYONE)), str(posted.get("text", ""))
    try:
        recipient = messages.parse_recipient(db, class_id, to)
        message = messages.send(db, staff, class_id, recipient, text)
    except WebError as exc:
        db.rollback()
        return _live(request, db, staff, class_id, to, None, exc.message, exc.status_code, text)
    db.commit()
    request.app.state.message_notifier.publish(class_id)
    return see_other(f"/instructor/live?sent={message.id}#message")


def _student_class(request: Request) -> tuple[int, int]:
    with request.app.state.session_factory() as db:
        student = require_student(request, db)
        return student.id, class_id_of(student)


def _new_messages(factory, student_pk: int, after_id: int) -> list[dict]:
    with factory() as db:
        student = db.get(Student, student_pk)
        return [] if student is None else messages.for_student(db, student, after_id=after_id)


@router.get("/messages/events")
async def message_events(request: Request, after: int = 0):
    """Server-sent events for a player: each new message from their instructor (to the class or to them)."""
    if not 0 <= after <= 2**31 - 1:
        raise WebError("after must be a message number", 422)
    student_pk, class_id = await run_in_threadpool(_student_class, request)
    factory, notifier = request.app.state.session_factory, request.app.state.message_notifier

    async def stream():
        last_id = after
        with notifier.subscribe(class_id) as nudges:
            while True:
                try:
                    found = await run_in_threadpool(_new_messages, factory, student_pk, last_id)
                except SQLAlchemyError:
                    found = []
                for message in found:
                    yield {"event": "message", "id": str(message["id"]), "data": json.dumps(message)}
                    last_id = max(last_id, message["id"])
                await nudges.wait(MESSAGE_POLL_SECONDS)

    return EventSourceResponse(stream(), ping=15)
