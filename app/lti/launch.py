"""What a validated launch does: the course becomes a class, the LMS user a student or an instructor."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import Student, name_key
from app.classroom.models import ClassSettings
from app.classroom.service import PLAYABLE_FAMILIES, SETTINGS_ID
from app.errors import WebError
from app.lti.models import LtiContext, LtiIdentity
from app.settings import Settings
from app.staff.models import INSTRUCTOR, StaffAccount
from app.staff.passwords import hash_password

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
#: Context roles (and any Administrator) that get the instructor dashboard instead of the game.
TEACHING_ROLES = {"Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator"}


@dataclass
class Landing:
    """Who the launch signs in (exactly one of the two) and where they go."""

    student_pk: int | None
    staff_pk: int | None
    url: str


def role_names(roles: list) -> set[str]:
    """Short names of LIS role URIs (``…/membership#Instructor`` → ``Instructor``; sub-roles by their fragment)."""
    names = set()
    for role in roles or []:
        text = str(role)
        names.add(text.rsplit("#", 1)[-1] if "#" in text else text.rsplit("/", 1)[-1])
    return names


def teaches(roles: list) -> bool:
    """True for instructors, teaching assistants, content developers and administrators."""
    return bool(role_names(roles) & TEACHING_ROLES)


def display_name(body: dict) -> str:
    """The LMS user's name: the name claim, else given + family name, else "Student"."""
    name = " ".join(str(body.get("name") or "").split())
    if not name:
        name = " ".join(f"{body.get('given_name') or ''} {body.get('family_name') or ''}".split())
    return (name or "Student")[:120]


def derived_id(issuer: str, subject: str, context_id: str, prefix: str) -> str:
    """A stable account name for one LMS user in one course; ``lti:`` can never be typed at the login form."""
    digest = hashlib.sha256("\x1f".join((issuer, subject, context_id)).encode()).hexdigest()[:16]
    return f"{prefix}{digest}"


def _context(db: Session, settings: Settings, platform_id: int, body: dict) -> LtiContext:
    """The launch's course, created (with a new class of default settings) on its first launch."""
    claim = body.get(CLAIM + "context") or {}
    # A launch outside any course still needs a class: the deployment stands in for the course.
    context_id = str(claim.get("id") or "deployment:" + str(body.get(CLAIM + "deployment_id")))[:255]
    title = str(claim.get("title") or claim.get("label") or context_id)[:255]
    query = select(LtiContext).where(LtiContext.platform_id == platform_id, LtiContext.context_id == context_id)
    context = db.scalar(query)
    for _ in range(5):
        if context is not None:
            break
        try:
            with db.begin_nested():
                # Ids chosen here, not by the database: row 1 (the default class) is inserted with an explicit
                # id, so PostgreSQL's sequence would hand out 1 again. A clash with a concurrent launch retries.
                class_id = max(db.scalar(select(func.max(ClassSettings.id))) or 0, SETTINGS_ID) + 1
                # The same defaults the default class (row 1) starts with (app.classroom.service.class_settings).
                db.add(ClassSettings(id=class_id, class_code=None, pool_size=settings.pool_size,
                                     allowed_families=list(PLAYABLE_FAMILIES), reveal_test_accuracy=False))
                db.flush()
                context = LtiContext(platform_id=platform_id, context_id=context_id, title=title, class_id=class_id)
                db.add(context)
                db.flush()
        except IntegrityError:  # another launch made this course (or took that class id) first
            context = db.scalar(query)
    if context is None:
        raise WebError("the course could not be set up: too many launches at once; please try again", 409)
    context.title = title
    if body.get(AGS_CLAIM):
        context.ags = dict(body[AGS_CLAIM])  # the latest launch's lineitem(s) and scopes, for grade passback
    return context


def sign_in(db: Session, settings: Settings, platform_id: int, issuer: str, body: dict) -> Landing:
    """Create or update the course, the identity and its account; the caller commits and sets the session."""
    context = _context(db, settings, platform_id, body)
    subject = str(body.get("sub") or "")[:255]
    roles = [str(r) for r in body.get(CLAIM + "roles") or []]
    identity = db.scalar(select(LtiIdentity).where(LtiIdentity.platform_id == platform_id,
                                                   LtiIdentity.subject == subject, LtiIdentity.context_id == context.id))
    if identity is None:
        identity = LtiIdentity(platform_id=platform_id, subject=subject, context_id=context.id, roles=roles)
        db.add(identity)
    identity.roles = roles
    if teaches(roles):
        staff = db.get(StaffAccount, identity.staff_pk) if identity.staff_pk else None
        if staff is None:
            # A random password nobody knows: this account signs in only through the LMS.
            staff = StaffAccount(username=derived_id(issuer, subject, context.context_id, "lti-"),
                                 password_hash=hash_password(secrets.token_urlsafe(32)), role=INSTRUCTOR,
                                 class_id=context.class_id)
            db.add(staff)
            db.flush()
            identity.staff_pk = staff.id
        db.flush()
        return Landing(student_pk=None, staff_pk=staff.id, url="/instructor")
    student = db.get(Student, identity.student_pk) if identity.student_pk else None
    name = display_name(body)
    if student is None:
        student = Student(student_id=derived_id(issuer, subject, context.context_id, "lti:"), name=name,
                          role="student", class_id=context.class_id)
        db.add(student)
        db.flush()
        identity.student_pk = student.id
    elif student.name != name:
        student.name = name
        student.name_key = name_key(name)
    db.flush()
    return Landing(student_pk=student.id, staff_pk=None, url="/")
