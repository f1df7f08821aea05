"""Tables of the security domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class WebSession(Base):
    """A browser session: the cookie holds only this row's id, signed; everything else stays here."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    student_pk: Mapped[int | None] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), nullable=True)
    staff_pk: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), nullable=True)
    csrf_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: A scenario link (/s/<token>) the player followed before they could play (app.accounts.pending).
    pending_scenario: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Set at logout (or rotation): a replayed cookie for this id is refused from then on.
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
