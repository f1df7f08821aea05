"""Tables of the runs domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

# Run.status values: waiting for its initial configuration, its epoch queued or training, waiting for
# the player's next action, over.
CONFIGURING, QUEUED, TRAINING, READY, ENDED, FAILED = "configuring", "queued", "training", "ready", "ended", "failed"
#: A run its player left: they started another, or took no action for the class's timeout (app.runs.abandon).
#: Over like an ended run, but not finished: no score on a board, no debrief branches, no grade.
ABANDONED = "abandoned"
#: Statuses of a run that takes no more actions.
OVER = (ENDED, FAILED, ABANDONED)
# ActionRecord.status values: waiting for a runner, being trained (or measured), finished, given up.
ACTION_QUEUED, ACTION_RUNNING, ACTION_DONE, ACTION_FAILED = "queued", "running", "done", "failed"
#: Statuses of an action a runner still has to finish.
ACTION_UNFINISHED = (ACTION_QUEUED, ACTION_RUNNING)
# Job kinds of the runs domain (app.jobs): a player's epoch, and an ended run's hidden test accuracy.
EPOCH_JOB, TEST_ACCURACY_JOB = "epoch", "test_accuracy"


class Run(Base):
    """One game: a student, a dataset, and where the game stands now."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    initial_config: Mapped[dict] = mapped_column(JSON)
    #: Configuration of the network as it stands (the one the last epoch used).
    config: Mapped[dict] = mapped_column(JSON)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    actions_used: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_reverts: Mapped[int] = mapped_column(Integer, default=0)
    best_val_acc: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_checkpoint_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Hidden test accuracy of the best checkpoint, computed when the run ends.
    test_acc: Mapped[float | None] = mapped_column(Float, nullable=True)
    current_checkpoint_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: A debrief branch: the automatic player continuing a player's run from one of its epochs.
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), nullable=True, index=True)
    parent_epoch: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: An ended player's run still keeps the checkpoints its debrief may branch from (see app.debrief).
    debrief_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    #: The scenario link the player followed to start this run (app.scenarios); None for the pool.
    scenario_id: Mapped[int | None] = mapped_column(ForeignKey("scenarios.id", ondelete="SET NULL"), nullable=True, index=True)

    @property
    def busy(self) -> bool:
        """An epoch is queued or training: no other action may be taken."""
        return self.status in (QUEUED, TRAINING)


class ActionRecord(Base):
    """Every submit: what the player chose and what they were shown at that moment."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("run_id", "index", name="uq_actions_run_id_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # initial, continue, revert, done
    choices: Mapped[dict] = mapped_column(JSON)
    shown: Mapped[dict] = mapped_column(JSON)
    #: ACTION_* above: queued until its epoch job starts, running while it trains (the job's lease
    #: itself lives in app.jobs), then done or failed.
    status: Mapped[str] = mapped_column(String(16), default=ACTION_QUEUED, index=True)
    #: The own queue of the worker that trained it: the run's next epoch is sent there while that worker lives.
    worker_queue: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # --- research instruments (app.research), all None when the class has them off -------------
    #: Predicted validation accuracy of the epoch this action trains (0-1), and confidence 1-5.
    prediction: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Reason chips (app.research.instruments.REASONS keys) and optional free text.
    reasons: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    reason_text: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: Times the player pointed at or focused the charts or the history since the previous action.
    chart_hovers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: The player's experimental condition when acting, and the hint it showed them (if any).
    condition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hint: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: Seconds the player took to decide: from when their page showed the state they acted on to the
    #: submit. ``decision_from`` says from what: "page" (the browser measured it from showing the
    #: finished epoch), "epoch_end" (the server's time the previous epoch, revert or run start was
    #: done), or None for an action recorded before this was measured.
    decision_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    decision_from: Mapped[str | None] = mapped_column(String(16), nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EpochRecord(Base):
    """One trained epoch: its configuration, metrics and (for width/depth moves) the change."""

    __tablename__ = "epochs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    #: The action that trained it; unique, so a second delivery of the same job adds nothing.
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), unique=True)
    number: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict] = mapped_column(JSON)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    train_acc: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    val_acc: Mapped[float] = mapped_column(Float)
    diverged: Mapped[bool] = mapped_column(Boolean, default=False)
    seconds: Mapped[float] = mapped_column(Float)
    change: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    reverted: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CheckpointRecord(Base):
    """A serialised TrainingState (engine.checkpoint bytes)."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    epoch_number: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
