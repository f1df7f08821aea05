"""Tables of the datasets domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow


# DatasetRecord.baseline_status and .references_status values: waiting, being computed, stored, given up.
JOB_PENDING, JOB_RUNNING, JOB_DONE, JOB_FAILED = "pending", "running", "done", "failed"
#: Statuses of a computation a runner still has to finish.
JOB_UNFINISHED = (JOB_PENDING, JOB_RUNNING)
# Job kinds of the datasets domain (app.jobs): a dataset's baselines, then its reference players.
BASELINES_JOB, REFERENCES_JOB = "baselines", "references"

class DatasetRecord(Base):
    """A generated dataset: (family, seed, size) regenerates it; stats and baselines are stored."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("family", "seed", "size", name="uq_datasets_family_seed_size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int] = mapped_column(Integer)
    size: Mapped[str] = mapped_column(String(16))
    num_classes: Mapped[int] = mapped_column(Integer)
    input_shape: Mapped[list] = mapped_column(JSON)
    train_examples: Mapped[int] = mapped_column(Integer)
    val_examples: Mapped[int] = mapped_column(Integer)
    test_examples: Mapped[int] = mapped_column(Integer)
    #: Best validation accuracy of the default schedule over the epoch budget.
    baseline_default: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Best validation accuracy of a linear classifier over the epoch budget.
    baseline_linear: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Score of the automatic player, and its run (stored like a player's).
    baseline_bot: Mapped[float | None] = mapped_column(Float, nullable=True)
    bot_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: pending -> running -> done (all baselines stored) or failed; only "done" datasets are handed out.
    #: The job computing them is app.datasets.jobs (its lease, retries and errors live in app.jobs).
    baseline_status: Mapped[str] = mapped_column(String(16), default=JOB_PENDING)  # JOB_* below
    baseline_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Progress of the baseline job in epochs (default schedule, linear classifier, bot), for progress bars.
    baseline_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    baseline_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Wall-clock seconds the baseline job took (for the pool's ETA and the benchmarks).
    baseline_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: The reference players of the debrief (engine.references): a random player and the best of a
    #: fixed grid of schedules ("oracle"), computed after the baselines; pending -> running -> done/failed.
    references_status: Mapped[str] = mapped_column(String(16), default=JOB_PENDING, server_default=JOB_PENDING)
    baseline_random: Mapped[float | None] = mapped_column(Float, nullable=True)
    baseline_oracle: Mapped[float | None] = mapped_column(Float, nullable=True)
    oracle_schedule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Validation accuracy per epoch spent of each reference player: {"default": [...], "random": [...],
    #: "schedules": {name: [...]}} (the bot's curve is its stored run).
    reference_curves: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: Wall-clock seconds the reference players took (for the benchmarks).
    references_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: Why pools pass over this dataset (too little room to learn, app.datasets.service.room_to_learn);
    #: None for a dataset fit to play. A scenario may still pin it.
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def ref(self) -> str:
        """``family:seed`` as shown to players."""
        return f"{self.family}:{self.seed}"


class ReferenceFork(Base):
    """Where reference schedules leave a baseline's path (engine.lockstep.ForkPoint bytes), until the
    references job has gone on from it; then deleted."""

    __tablename__ = "reference_forks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
