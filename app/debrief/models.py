"""Tables of the debrief domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

# BranchRecord.status values: waiting for a runner, being played, stored, or given up.
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
#: Why a branch exists: the run's best epoch, the epoch before its biggest fall, or the player's pick.
REASONS = ("best", "before_drop", "picked")
#: The job kind that plays a branch (app.debrief.jobs).
BRANCH_JOB = "branch"


class BranchRecord(Base):
    """A counterfactual branch: the automatic player continuing a player's run from one of its epochs.

    Its progress lives here; the branch itself is stored as a bot run (``bot_run_id``) whose
    ``parent_run_id``/``parent_epoch`` point back, so replays and the export see it like any run.
    """

    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("run_id", "from_epoch", name="uq_branches_run_id_from_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    from_epoch: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16))
    #: PENDING until its job starts, RUNNING while it plays, then DONE or FAILED (the lease lives in app.jobs).
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    epochs_total: Mapped[int] = mapped_column(Integer, default=0)
    #: Validation metrics of the player's checkpoint as the branch loaded it (must equal the player's epoch).
    start_val_acc: Mapped[float | None] = mapped_column(Float, nullable=True)
    start_val_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    bot_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
