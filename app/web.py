"""Shared web plumbing: templates, the database session per request, the logged-in student."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Path, Request
from starlette.datastructures import FormData
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.errors import LoginRequired, WebError
from app.paths import TEMPLATES
from app.security import csrf
from engine.formatting import knob_value
from engine.scale import MIN_DIVISOR

templates = Jinja2Templates(directory=str(TEMPLATES))
# Templates ship with the code: no file-modification check on every render.
templates.env.auto_reload = False

#: A database id in a URL: out-of-range values are a 404. Ids are INTEGER columns, 32-bit on
#: PostgreSQL, so anything above 2**31 - 1 could never be a row (and would be a database error).
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _fmt_lr(value: float | None) -> str:
    """A learning rate as every page writes it (engine.formatting)."""
    return knob_value("lr", value)


def _fmt_num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _fmt_knob(value: float | int | None, knob: str = "lr") -> str:
    """``{{ value | knob("width") }}``: any knob value as every page writes it (engine.formatting)."""
    return knob_value(knob, value)


def _fmt_duration(seconds: float | None) -> str:
    """A wait as people say it: 45 s, 3 min, 2 h 5 min."""
    if seconds is None:
        return "-"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


templates.env.filters["lr"] = _fmt_lr
templates.env.filters["duration"] = _fmt_duration
templates.env.filters["num"] = _fmt_num
templates.env.filters["knob"] = _fmt_knob
templates.env.globals["csrf_token"] = csrf.csrf_token
templates.env.globals["min_divisor"] = MIN_DIVISOR


async def form_data(request: Request) -> FormData:
    """The posted form, CSRF-checked, read on the event loop so the handler can be a plain (threadpool) function.

    Handlers that touch the database must not run on the event loop: a blocking query or a wait
    for a pooled connection there would stall every other request, including the ones that would
    give the connection back.
    """
    form = await request.form()
    csrf.verify(request, form)
    # No field of any form may hold a NUL character: PostgreSQL refuses them in text, and no person types one.
    if any(isinstance(value, str) and "\x00" in value for value in form.values()):
        raise WebError("the form contains a character that is not allowed (NUL)", 422)
    return form


def get_db(request: Request) -> Iterator[Session]:
    """One session per request; views commit once, explicitly.

    Routes take it as ``db: DbSession`` (``scope="function"``), so the connection goes back to the
    pool when the handler returns, before the response starts: the session middleware saves the
    browser session on a connection of its own at that moment, and holding both at once would let a
    burst of requests deadlock the pool.
    """
    with request.app.state.session_factory() as db:
        yield db


#: The request's database session, as a handler parameter (``db: DbSession``). ``scope="function"``
#: gives the connection back to the pool when the handler returns, before the response starts (see get_db).
DbSession = Annotated[Session, Depends(get_db, scope="function")]
#: The posted form, CSRF-checked (see form_data), as a handler parameter.
PostedForm = Annotated[FormData, Depends(form_data)]


def current_student(request: Request, db: Session) -> Student | None:
    """The logged-in student, or None."""
    student_pk = request.session.get("student_pk")
    if student_pk is None:
        return None
    student = db.get(Student, student_pk)
    if student is None:
        request.session.clear()
    return student


def require_student(request: Request, db: Session) -> Student:
    """The logged-in student, or LoginRequired (which redirects to the login page)."""
    student = current_student(request, db)
    if student is None:
        raise LoginRequired("please log in first")
    return student


def render(request: Request, name: str, context: dict, status_code: int = 200):
    """Render a page template; ``student`` is always available to base.html."""
    return templates.TemplateResponse(request, name, context, status_code=status_code)
