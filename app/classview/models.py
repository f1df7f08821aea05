"""Tables of the class view: the instructor's messages to the class or to one student."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

#: Longest message an instructor may send (it has to fit the training page's banner).
MESSAGE_MAX = 500


class InstructorMessage(Base):
    """A message from an instructor, shown on the training page of its class's players (or one player)."""

    __tablename__ = "instructor_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The class it went to (ClassSettings.id); a one-student message keeps its student's class.
    class_id: Mapped[int] = mapped_column(Integer, index=True)
    #: The one student it went to; None: the whole class.
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), nullable=True, index=True)
    #: Who sent it (kept when the account is removed, as a null).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="SET NULL"), nullable=True)
    text: Mapped[str] = mapped_column(String(MESSAGE_MAX))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
