"""Pages of a study: the consent screen, and the researcher's study settings."""

from __future__ import annotations

import re
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts import pending
from app.accounts.models import Student, is_human
from app.classroom.models import ClassSettings
from app.classroom.service import class_of
from app.errors import Forbidden, WebError
from app.research import study
from app.research.conditions import CONDITIONS
from app.staff.models import ROLES, StaffAccount
from app.staff.service import StaffLoginRequired, current_staff
from app.web import DbSession, PostedForm, render, require_student

router = APIRouter()

CONSENT_TEXT_MAX = 5000
SEED_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TRUE_VALUES = ("on", "true", "1", "yes")


def see_other(url: str) -> RedirectResponse:
    """Redirect after a POST (303)."""
    return RedirectResponse(url, status_code=303)


# ----------------------------------------------------------------------------- consent


@router.get("/consent")
def consent_page(request: Request, db: DbSession):
    """The researcher's consent text with "I agree" / "I do not agree"."""
    student = require_student(request, db)
    row = class_of(db, student, request.app.state.settings)
    if not row.research_enabled:
        return see_other("/")
    return render(request, "consent.html", {"student": student, "class": row, "error": None,
                                            "answered": not study.consent_due(student, row)})


@router.post("/consent")
def submit_consent(request: Request, form: PostedForm, db: DbSession):
    """Store the answer, then go on to the survey (or the game)."""
    student = require_student(request, db)
    settings = request.app.state.settings
    row = class_of(db, student, settings)
    if not row.research_enabled:
        return see_other("/")
    answer = str(form.get("answer", ""))
    if answer not in ("agree", "decline"):
        return render(request, "consent.html", {"student": student, "class": row, "answered": False,
                                                "error": "Choose “I agree” or “I do not agree”."}, 422)
    study.record_consent(db, student, settings, answer == "agree")
    if study.has_survey(db, student):  # a player surveyed before the study began is assigned now
        study.ensure_assignment(db, student, settings)
    db.commit()
    return see_other(study.next_step(db, student, settings) or pending.after_setup(request))


# ----------------------------------------------------------------------------- study settings


def require_staff(request: Request, db: Session) -> StaffAccount:
    """The logged-in researcher or instructor: 403 for students, the staff login otherwise."""
    account = current_staff(request, db)
    if account is not None:
        if account.role not in ROLES:
            raise Forbidden("this page is for researchers and instructors")
        return account
    if request.session.get("student_pk") is not None:
        raise Forbidden("this page is for researchers and instructors")
    raise StaffLoginRequired("please log in with a staff account")


def apply_study_form(row: ClassSettings, form: dict) -> None:
    """Apply the study form to the class settings; WebError (422) with the reason for any bad field."""
    enabled = str(form.get("research_enabled", "")) in TRUE_VALUES
    text = str(form.get("consent_text", "")).replace("\r\n", "\n").replace("\r", "\n").strip()
    arms = [str(a) for a in form.get("arms", [])]
    seed = str(form.get("assignment_seed", "")).strip()
    if len(text) > CONSENT_TEXT_MAX:
        raise WebError(f"the consent text may be at most {CONSENT_TEXT_MAX} characters (it has {len(text)})", 422)
    if enabled and not text:
        raise WebError("write the consent text players must agree to before research can be enabled", 422)
    unknown = [a for a in arms if a not in CONDITIONS]
    if unknown:
        raise WebError(f"unknown condition {unknown[0][:40]!r}; conditions are {', '.join(CONDITIONS)}", 422)
    if arms and not enabled:
        raise WebError("experimental arms need research enabled (players must consent before they are assigned)", 422)
    if len(set(arms)) == 1:
        raise WebError("an experiment needs at least 2 arms (or none, for no experiment)", 422)
    if seed and not SEED_PATTERN.match(seed):
        raise WebError("the assignment seed must be 1-64 letters, digits, dashes or underscores", 422)
    if text != (row.consent_text or "").strip():
        # A player who answered another text is asked again.
        row.consent_version = (row.consent_version or 0) + 1
    row.consent_text = text or None
    row.research_enabled = enabled
    row.arms = [a for a in CONDITIONS if a in arms]  # a fixed order, so the same choice is the same "arms"
    row.assignment_seed = seed or row.assignment_seed or (secrets.token_urlsafe(12) if enabled else "")


def _consent_counts(db: Session, row: ClassSettings) -> dict:
    students = select(Student).where(is_human())
    current = [Student.consent_version == row.consent_version]
    return {
        "agreed": db.scalar(select(func.count()).select_from(students.where(Student.consented.is_(True), *current).subquery())),
        "declined": db.scalar(select(func.count()).select_from(students.where(Student.consented.is_(False), *current).subquery())),
    }


def _study_page(request: Request, db: Session, staff: StaffAccount, error: str | None, saved: bool,
                status_code: int, form: dict | None = None):
    row = class_of(db, staff, request.app.state.settings)
    return render(request, "research_study.html", {
        "student": None, "staff": staff, "class": row, "conditions": CONDITIONS, "error": error, "saved": saved,
        "form": form, "balance": study.balance_table(db, row), "consent": _consent_counts(db, row),
        "text_max": CONSENT_TEXT_MAX,
    }, status_code)


@router.get("/research/study")
def study_settings(request: Request, db: DbSession):
    """The study settings: research on/off, consent text, arms, seed, and the balance so far."""
    staff = require_staff(request, db)
    return _study_page(request, db, staff, None, False, 200)


@router.post("/research/study")
def save_study(request: Request, posted: PostedForm, db: DbSession):
    """Save the study settings (422 with the reason on a bad field)."""
    staff = require_staff(request, db)
    row = class_of(db, staff, request.app.state.settings)
    form = {"research_enabled": posted.get("research_enabled", ""), "consent_text": posted.get("consent_text", ""),
            "arms": posted.getlist("arms"), "assignment_seed": posted.get("assignment_seed", "")}
    try:
        apply_study_form(row, form)
    except WebError as exc:
        db.rollback()
        # The form keeps what was typed, so a long consent text is not lost to one bad field.
        kept = {"research_enabled": str(form["research_enabled"]) in TRUE_VALUES, "consent_text": str(form["consent_text"]),
                "arms": [str(a) for a in form["arms"]], "assignment_seed": str(form["assignment_seed"])}
        return _study_page(request, db, staff, exc.message, False, exc.status_code, kept)
    db.commit()
    return _study_page(request, db, staff, None, True, 200)
