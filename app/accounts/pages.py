"""Login, logout, the survey and the instructions page."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import pending
from app.accounts.models import Student, SurveyResponse, name_key
from app.accounts.survey import QUESTIONS, parse_answers
from app.classroom.service import class_code_matches, class_of, class_settings
from app.errors import WebError
from app.research import study
from app.security.csrf import csrf_token
from app.security.ratelimit import client_ip, limits_of
from app.runs.service import runs_finished
from app.web import DbSession, PostedForm, current_student, render, require_student

router = APIRouter()

STUDENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Where a login may send the player on: a scenario link (/s/<token>) and nothing else, so the
#: parameter cannot be used to send players to another site.
NEXT_PATTERN = re.compile(r"^/s/[A-Za-z0-9._~-]{1,200}(/[A-Za-z0-9._~-]{1,200})*$")


def safe_next(value: object) -> str | None:
    """``value`` when it is a scenario link on this site, else None."""
    text = str(value or "")
    return text if NEXT_PATTERN.match(text) and ".." not in text else None


def _has_survey(db: Session, student: Student) -> bool:
    return db.scalar(select(SurveyResponse.id).where(SurveyResponse.student_pk == student.id)) is not None


def see_other(url: str) -> RedirectResponse:
    """Redirect after a POST (303, so the browser follows with GET)."""
    return RedirectResponse(url, status_code=303)


@router.get("/")
def home(request: Request, db: DbSession):
    """Send each visitor to the step they are at."""
    student = current_student(request, db)
    if student is None:
        return see_other("/login")
    return see_other(study.next_step(db, student, request.app.state.settings) or pending.after_setup(request))


def _needs_code(request: Request, db: Session) -> bool:
    return bool(class_settings(db, request.app.state.settings).class_code)


@router.get("/login")
def login_page(request: Request, db: DbSession):
    """The login form (with a class code field when the instructor requires one)."""
    next_url = safe_next(request.query_params.get("next"))  # kept in the form's hidden "next" field
    return render(request, "login.html", {"student": current_student(request, db), "form": {}, "error": None,
                                          "needs_code": _needs_code(request, db), "next": next_url})


@router.post("/login")
def login(request: Request, form: PostedForm, db: DbSession):
    """Log in with a student ID and name; the first login with that pair creates the player."""
    student_id = str(form.get("student_id", "")).strip()
    name = " ".join(str(form.get("name", "")).split())
    limits_of(request).check("login", ip=client_ip(request), account=student_id.lower()[:64])
    next_url = safe_next(form.get("next"))
    error = None
    row = class_settings(db, request.app.state.settings)
    if not STUDENT_ID_PATTERN.match(student_id):
        error = "Student ID must be 1-64 letters, digits, dots, dashes or underscores."
    elif not 1 <= len(name) <= 120:
        error = "Please enter your name (at most 120 characters)."
    elif not class_code_matches(row, str(form.get("class_code", ""))[:128]):
        error = "That is not this class's code. Ask your instructor for it."
    if error:
        context = {"student": None, "form": {"student_id": student_id, "name": name}, "error": error,
                   "needs_code": bool(row.class_code), "next": next_url}
        return render(request, "login.html", context, 422)
    # The ID and the name together are the login: a known ID with another name is another
    # player, never an error, so the form cannot be used to find out which student IDs exist.
    student = _find_student(db, student_id, name) or _new_student(db, student_id, name)
    db.commit()
    request.session.clear()
    request.session["student_pk"] = student.id
    pending.remember(request, next_url)  # kept through consent, the survey and the instructions
    csrf_token(request)  # the new session gets its token now, in the same write as the login
    # A scenario link sends the player on; that page itself asks for consent and the survey first.
    return see_other(next_url or "/")


def _find_student(db: Session, student_id: str, name: str) -> Student | None:
    """The player who logs in with this ID and name (the name compared by ``name_key``), if any."""
    return db.scalar(select(Student).where(Student.student_id == student_id, Student.name_key == name_key(name)))


def _new_student(db: Session, student_id: str, name: str) -> Student:
    """Create the player (ID, name); a concurrent first login with the same pair gets the same row."""
    student = Student(student_id=student_id, name=name)
    db.add(student)
    try:
        db.flush()
    except IntegrityError:
        db.rollback()
        student = _find_student(db, student_id, name)
        if student is None:
            raise
    return student


@router.post("/logout")
def logout(request: Request, _: PostedForm):
    """Forget the session."""
    request.session.clear()
    return see_other("/login")


@router.get("/survey")
def survey_page(request: Request, db: DbSession):
    """The survey, once per student."""
    student = require_student(request, db)
    if study.consent_due(student, class_of(db, student, request.app.state.settings)):
        return see_other("/consent")
    if _has_survey(db, student):
        return see_other("/instructions")
    return render(request, "survey.html", {"student": student, "questions": QUESTIONS, "error": None, "answers": {}})


@router.post("/survey")
def submit_survey(request: Request, form: PostedForm, db: DbSession):
    """Store the answers (a second submission changes nothing)."""
    student = require_student(request, db)
    settings = request.app.state.settings
    if study.consent_due(student, class_of(db, student, settings)):
        return see_other("/consent")
    if _has_survey(db, student):
        return see_other(pending.after_setup(request))
    single = {q["name"]: form.get(q["name"]) for q in QUESTIONS if not q["multiple"]}
    network_types = [str(v) for v in form.getlist("network_types")]
    try:
        answers = parse_answers(single, network_types)
    except WebError as exc:
        context = {"student": student, "questions": QUESTIONS, "error": exc.message, "answers": {**single, "network_types": network_types}}
        return render(request, "survey.html", context, 422)
    db.add(SurveyResponse(student_pk=student.id, **answers))
    db.flush()
    study.ensure_assignment(db, student, settings)  # the stratum is the answer just given
    db.commit()
    return see_other(pending.after_setup(request))


@router.get("/instructions")
def instructions(request: Request, db: DbSession):
    """How to play, and how many networks the student has trained."""
    student = require_student(request, db)
    step = study.next_step(db, student, request.app.state.settings)
    if step is not None:
        return see_other(step)
    scenario = None
    token = pending.pending_token(request)
    if token is not None:
        from app.scenarios.models import Scenario  # the scenario domain builds on this one

        scenario = db.scalar(select(Scenario).where(Scenario.token == token))
    return render(request, "instructions.html", {"student": student, "networks_trained": runs_finished(db, student),
                                                 "scenario": scenario})
