"""Tables of the classroom domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class ClassSettings(Base):
    """The class's settings: a single row (id 1), edited by instructors."""

    __tablename__ = "class_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Required at student login when set; None lets anyone with a student ID play.
    class_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Datasets in the shared pool new runs draw from.
    pool_size: Mapped[int] = mapped_column(Integer)
    #: Families the pool may use (an empty list means all).
    allowed_families: Mapped[list] = mapped_column(JSON)
    #: Whether players see their run's hidden test accuracy once the run has ended.
    reveal_test_accuracy: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
