"""Tables of the accounts domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


#: Student.role of the automatic players (the baselines' bot, the debrief's branches): they play
#: the game by its rules but are no one's account, so boards, dashboards and exports leave them out.
BOT_ROLE = "bot"


def name_key(name: str) -> str:
    """How a name is compared at login: spacing and capitals do not matter."""
    return " ".join(name.split()).casefold()


class Student(Base):
    """A player, identified by the student ID and name they log in with (the pair is the login)."""

    __tablename__ = "students"
    # The pair, not the ID alone, is unique: a login with a known ID and another name makes a new
    # player instead of an error, so the login form never tells which student IDs exist.
    __table_args__ = (UniqueConstraint("student_id", "name_key", name="uq_students_student_id_name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(120))
    name_key: Mapped[str] = mapped_column(String(480), default=lambda ctx: name_key(ctx.get_current_parameters()["name"]))
    role: Mapped[str] = mapped_column(String(16), default="student")
    #: The research consent: True given, False declined, None never asked; for the consent text's
    #: version ``consent_version`` (ClassSettings.consent_version), answered at ``consent_at``.
    consented: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    consent_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: The class the player belongs to (an LMS course launched via LTI); None is the default class (row 1).
    class_id: Mapped[int | None] = mapped_column(ForeignKey("class_settings.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def is_bot(self) -> bool:
        """An automatic player, not a person."""
        return self.role == BOT_ROLE


def is_human():
    """SQL condition on Student: a person (not an automatic player)."""
    return Student.role != BOT_ROLE


class SurveyResponse(Base):
    """The one-time survey about the student's experience."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), unique=True)
    education: Mapped[str] = mapped_column(String(64))
    experience_years: Mapped[str] = mapped_column(String(64))
    self_rating: Mapped[str] = mapped_column(String(64))
    network_types: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
