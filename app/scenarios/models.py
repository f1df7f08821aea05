"""Tables of the scenarios domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


class Scenario(Base):
    """A link an instructor hands out: every run started from it plays the same set-up."""

    __tablename__ = "scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The unguessable part of the link (/s/<token>).
    token: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(120))
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    #: Pinned initial values by knob (engine.config names); a knob not named is the player's choice.
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    #: Knobs the player may not change during training (they keep their value).
    locked: Mapped[list] = mapped_column(JSON, default=list)
    #: Knobs not shown at all (locked too).
    hidden: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
