"""Background jobs of the datasets domain: a pool dataset's baselines, then its reference players.

Two kinds in two lanes: the baselines (default schedule, linear classifier, automatic player) make
a dataset playable, so they go before the reference players, which only the debrief needs. Both
yield between training steps, so a player's epoch or a debrief never waits behind them.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.bots.player import play_bot_run
from app.datasets import service
from app.datasets.models import (BASELINES_JOB, JOB_DONE, JOB_FAILED, JOB_PENDING, JOB_RUNNING, REFERENCES_JOB,
                                 DatasetRecord, ReferenceFork)
from app.db.throttle import Throttle
from app.errors import JobCancelled
from app.grades import service as grades
from app.jobs.context import JobContext
from app.jobs.lanes import BACKGROUND, POOL
from app.jobs.queue import enqueue
from app.jobs.registry import Subject, job_kind
from app.runs.models import Run
from engine import references
from engine.baselines import linear_classifier_score
from engine.bots import RuleBasedBot
from engine.lockstep import ForkPoint

log = logging.getLogger(__name__)

#: Progress is written at most this often (and at every epoch's end).
WRITE_EVERY_SECONDS = 1.0


def _describe(db: Session, dataset_id: int) -> Subject:
    record = db.get(DatasetRecord, dataset_id)
    return Subject(f"dataset {record.ref} ({record.size})" if record else f"dataset {dataset_id} (deleted)")


def _baselines_gave_up(db: Session, dataset_id: int, error: str) -> None:
    db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id)
               .values(baseline_status=JOB_FAILED, baseline_error=error[:2000]))


def _baselines_retried(db: Session, dataset_id: int) -> None:
    db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id)
               .values(baseline_status=JOB_PENDING, baseline_error=None, baseline_done=0))


def _references_gave_up(db: Session, dataset_id: int, error: str) -> None:
    db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id).values(references_status=JOB_FAILED))


def _references_retried(db: Session, dataset_id: int) -> None:
    db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id).values(references_status=JOB_PENDING))


def _waiting_again(ctx: JobContext, reset, dataset_id: int) -> None:
    """The runner stopped mid-job: the dataset's row says it waits again (its job is released)."""
    with ctx.session_factory() as db:
        reset(db, dataset_id)
        db.commit()


class _Progress:
    """Counts the baselines job's trained epochs and writes them to the dataset's row (for progress bars)."""

    def __init__(self, ctx: JobContext, dataset_id: int) -> None:
        self.ctx = ctx
        self.dataset_id = dataset_id
        self.epochs = 0
        self._throttle = Throttle(WRITE_EVERY_SECONDS)

    def batch(self, done: int, total: int) -> None:
        """Progress callback of a fixed-schedule training loop: (batches done, batches in the epoch)."""
        if done == total:
            self.epochs += 1
        self._write(force=done == total)
        self.ctx.yield_point()

    def bot(self, _run_id: int, done: int, total: int) -> None:
        """Progress callback of the bot's epochs: (run, batches done, batches total), -1 at an epoch's end."""
        if done == -1:
            self.epochs += 1
            self._write(force=True)
        if done > 0 or done == -1:
            self.ctx.yield_point()

    def _write(self, force: bool) -> None:
        if not self._throttle.due(force):
            return
        try:
            with self.ctx.session_factory() as db:
                db.execute(update(DatasetRecord).where(DatasetRecord.id == self.dataset_id)
                           .values(baseline_done=self.epochs))
                db.commit()
        except Exception as exc:  # the database is busy: the bar waits for the next write
            log.debug("baseline progress of dataset %s not written: %s", self.dataset_id, exc)


@job_kind(BASELINES_JOB, POOL, label="dataset baselines", gave_up=_baselines_gave_up, retried=_baselines_retried,
          describe=_describe)
def baselines_job(ctx: JobContext, dataset_id: int) -> None:
    """Measure and store a dataset's three baselines (default schedule, linear classifier, bot), then enqueue its references."""
    compute_baselines(ctx, dataset_id)


def compute_baselines(ctx: JobContext, dataset_id: int) -> None:
    """The baselines job's body: each baseline gets the game's epoch budget; the bot plays through the service."""
    epochs = ctx.settings.baseline_epochs
    with ctx.session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        if record is None or record.baseline_status == JOB_DONE:
            return
        record.baseline_status, record.baseline_error = JOB_RUNNING, None
        record.baseline_done, record.baseline_total = 0, service.baseline_epochs_total(epochs)
        db.commit()
        family, seed, size = record.family, record.seed, record.size
    progress = _Progress(ctx, dataset_id)
    started = time.perf_counter()
    bot = RuleBasedBot()
    # Reference schedules that start like the default schedule or the bot follow their paths here and
    # only train from where they part (the fork points, stored for the references job).
    recorder = references.fork_recorder(bot.initial_config(), epochs)
    try:
        default_curve, forks = service.default_curve(record, epochs, ctx.device, progress.batch)
        linear = linear_classifier_score(service.generated(family, seed, size), epochs, seed=0, device=ctx.device)
        bot_run_id = play_bot_run(ctx.session_factory, dataset_id, epochs, ctx.device, progress.bot, bot, recorder)
    except JobCancelled:
        _waiting_again(ctx, _baselines_retried, dataset_id)
        raise
    with ctx.session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        record.baseline_default, record.baseline_linear = service.curve_best(default_curve), linear
        record.reference_curves = {**(record.reference_curves or {}), "default": default_curve}
        record.bot_run_id = bot_run_id
        record.baseline_bot = db.get(Run, bot_run_id).best_val_acc
        record.baseline_status = JOB_DONE
        record.baseline_done = record.baseline_total
        record.baseline_seconds = time.perf_counter() - started
        db.execute(delete(ReferenceFork).where(ReferenceFork.dataset_id == dataset_id))  # an earlier attempt's
        db.add_all(ReferenceFork(dataset_id=dataset_id, data=fork.to_bytes()) for fork in [*forks, *recorder.forks])
        record.rejected_reason = service.room_to_learn(record.baseline_default, record.baseline_bot, epochs,
                                                       ctx.settings.min_room_to_learn)
        if record.rejected_reason is None:
            # Playable now; the debrief's reference players follow in a lane of their own.
            enqueue(db, REFERENCES_JOB, dataset_id)
        else:
            # A dud: pools pass it over, so the family's next seed is prepared in its place at once.
            db.flush()
            if service.replace_dud(db, record) is None:
                # The family was passed over often enough: pools take this one after all (see
                # service.pool_entries), so its players get a debrief like any other.
                enqueue(db, REFERENCES_JOB, dataset_id)
        db.commit()


@job_kind(REFERENCES_JOB, BACKGROUND, label="reference players", gave_up=_references_gave_up,
          retried=_references_retried, describe=_describe)
def references_job(ctx: JobContext, dataset_id: int) -> None:
    """Measure and store the debrief's reference players (a random player, the best of a schedule grid), once."""
    with ctx.session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        if record is None or record.references_status == JOB_DONE or record.baseline_status != JOB_DONE:
            return
        record.references_status = JOB_RUNNING
        db.commit()
        family, seed, size = record.family, record.seed, record.size
        known = {"default": record.reference_curves["default"]} if (record.reference_curves or {}).get("default") else {}
        forks = [ForkPoint.from_bytes(blob) for blob in
                 db.scalars(select(ReferenceFork.data).where(ReferenceFork.dataset_id == dataset_id)
                            .order_by(ReferenceFork.id))]
    started = time.perf_counter()
    try:
        result = references.reference_players(service.generated(family, seed, size), ctx.settings.baseline_epochs,
                                              ctx.device, data=service.placed(family, seed, size, ctx.device),
                                              progress=ctx.progress(), known=known, forks=forks)
    except JobCancelled:
        _waiting_again(ctx, _references_retried, dataset_id)
        raise
    with ctx.session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        stored = result.as_dict()
        record.reference_curves = {**(record.reference_curves or {}), "random": stored["random"],
                                   "schedules": stored["schedules"]}
        record.baseline_random, record.baseline_oracle = result.random_score, result.oracle_score
        record.oracle_schedule = result.oracle_name
        record.references_status = JOB_DONE
        record.references_seconds = time.perf_counter() - started
        db.execute(delete(ReferenceFork).where(ReferenceFork.dataset_id == dataset_id))  # gone on from: not needed
        grades.plan_for_rescaled_dataset(db, dataset_id)  # the top of the scale may have moved
        db.commit()
