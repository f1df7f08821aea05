"""Tables of the research domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class Assignment(Base):
    """A player's experimental condition: drawn once, then fixed for every later run."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), unique=True)
    condition: Mapped[str] = mapped_column(String(32))
    #: The stratum it was balanced within (the survey's experience answer).
    stratum: Mapped[str] = mapped_column(String(64))
    #: The assignment seed and arms in force when it was drawn (a record of the randomisation).
    seed: Mapped[str] = mapped_column(String(64))
    arms: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
