"""Instructors' messages: sent to a whole class or to one student, shown on the player's training page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.classroom.service import class_id_of
from app.classview.models import MESSAGE_MAX, InstructorMessage
from app.db.base import as_utc
from app.errors import WebError

#: Messages a training page shows at most (the newest).
SHOWN = 5
#: "Whole class" in the recipient field of the form.
EVERYONE = "class"


def parse_recipient(db: Session, class_id: int, raw: str | None) -> Student | None:
    """The form's recipient: None for the whole class, else a human student of the class (WebError otherwise)."""
    value = (raw or EVERYONE).strip()
    if value == EVERYONE:
        return None
    try:
        student_pk = int(value)
    except ValueError:
        raise WebError("choose the whole class or one student as the recipient", 422) from None
    student = db.get(Student, student_pk) if 1 <= student_pk <= 2**31 - 1 else None
    # Another class's student reads as "no such student": an instructor learns nothing about other classes.
    if student is None or student.is_bot or class_id_of(student) != class_id:
        raise WebError("there is no such student in your class", 422)
    return student


def clean_text(raw: str | None) -> str:
    """The message text, trimmed; WebError when empty or too long."""
    text = (raw or "").strip()
    if not text:
        raise WebError("write a message first", 422)
    if len(text) > MESSAGE_MAX:
        raise WebError(f"a message may be at most {MESSAGE_MAX} characters (this one has {len(text)})", 422)
    return text


def send(db: Session, staff, class_id: int, recipient: Student | None, text: str) -> InstructorMessage:
    """Store a message to the class (``recipient`` None) or one student; the caller commits."""
    message = InstructorMessage(class_id=class_id, student_pk=recipient.id if recipient else None,
                                staff_id=staff.id, text=clean_text(text))
    db.add(message)
    db.flush()
    return message


def _visible(student: Student):
    """SQL condition: messages to the student's class or to the student."""
    return (InstructorMessage.class_id == class_id_of(student)) & or_(
        InstructorMessage.student_pk.is_(None), InstructorMessage.student_pk == student.id)


def for_student(db: Session, student: Student, since: dt.datetime | None = None, after_id: int = 0) -> list[dict]:
    """The newest messages the student may see (sent after ``since`` and after message ``after_id``), oldest first."""
    query = select(InstructorMessage).where(_visible(student), InstructorMessage.id > after_id)
    if since is not None:
        query = query.where(InstructorMessage.created_at >= since)
    rows = list(db.scalars(query.order_by(InstructorMessage.id.desc()).limit(SHOWN)))
    return [as_dict(m) for m in reversed(rows)]


def latest_id(db: Session, student: Student) -> int:
    """The newest message id the student may see (0 for none): a live page streams only what comes after it."""
    return db.scalar(select(func.max(InstructorMessage.id)).where(_visible(student))) or 0


def as_dict(message: InstructorMessage) -> dict:
    """JSON-ready: id, text, whether it was to the class, when (ISO)."""
    return {"id": message.id, "text": message.text, "to_class": message.student_pk is None,
            "at": as_utc(message.created_at).isoformat()}


def sent_in_class(db: Session, class_id: int, limit: int = 20) -> list[tuple[InstructorMessage, Student | None]]:
    """The class's latest messages with their recipient (None: the whole class), newest first."""
    return list(db.execute(
        select(InstructorMessage, Student).outerjoin(Student, Student.id == InstructorMessage.student_pk)
        .where(InstructorMessage.class_id == class_id).order_by(InstructorMessage.id.desc()).limit(limit)
    ).all())
