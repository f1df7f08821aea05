"""Tables of the classroom domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
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
    # --- research instruments (app.research): all off for a plain class --------------------------
    #: Predict-before-reveal on each trained epoch: "off", "optional" or "required" (INSTRUMENT_MODES).
    predictions: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    #: Reason chips on each training-page action: "off", "optional" or "required".
    reasons: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    #: A study runs in this class: players see the consent screen before the survey, and only
    #: those who consented are exported.
    research_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: The consent text the researcher wrote, and its version (bumped whenever the text changes:
    #: a player who answered an older version is asked again).
    consent_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    consent_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Experimental arms (app.research.conditions.CONDITIONS names); empty = no experiment.
    arms: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    #: Seed of the assignment hash: another seed is another randomisation.
    assignment_seed: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: Whether a researcher may export exact wall-clock times (otherwise seconds since each
    #: player's first action only).
    allow_exact_times: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # --- grade passback (app.grades), for a class that is an LMS course -------------------------
    #: How a player's gradebook score is computed (app.grades.policy.GRADE_MODES).
    grade_mode: Mapped[str] = mapped_column(String(32), default="best_normalised", server_default="best_normalised")
    #: Finished runs that earn full marks in the "completion" mode.
    grade_runs: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    #: A run with no action for this many minutes is abandoned (ended, not finished); 0 = only when the
    #: player starts another run (app.runs.abandon).
    abandon_after_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
