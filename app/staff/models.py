"""Tables of the staff domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

INSTRUCTOR, RESEARCHER = "instructor", "researcher"
ROLES = (INSTRUCTOR, RESEARCHER)


class StaffAccount(Base):
    """An instructor or researcher account, created with ``hyperquest staff create``."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: scrypt$N$r$p$salt-hex$hash-hex (see app.staff.passwords).
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    #: The class an instructor launched from an LMS course teaches; None is the default class (row 1).
    class_id: Mapped[int | None] = mapped_column(ForeignKey("class_settings.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
