"""Background jobs of the datasets domain: computing a pool dataset's baselines."""

from __future__ import annotations

import datetime as dt
import logging
import time

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from app.bots.player import play_bot_run
from app.datasets import service
from app.datasets.models import JOB_DONE, JOB_FAILED, JOB_PENDING, JOB_RUNNING, JOB_UNFINISHED, DatasetRecord
from app.db.base import utcnow
from app.db.throttle import Throttle
from app.errors import JobCancelled
from app.runs.models import Run
from engine import references
from engine.baselines import linear_classifier_score

log = logging.getLogger(__name__)

#: A process computing baselines that has not reported for this long is presumed dead.
BASELINE_STALE_SECONDS = 60.0
#: Progress is written at most this often (and at every epoch's end).
WRITE_EVERY_SECONDS = 1.0
#: How often a runner that waits for another process's baseline looks again.
WAIT_POLL_SECONDS = 2.0


def _claimable(cutoff: dt.datetime):
    """SQL condition: not started, or started by a process that stopped reporting (it died)."""
    return or_(
        DatasetRecord.baseline_status == JOB_PENDING,
        and_(DatasetRecord.baseline_status == JOB_RUNNING,
             or_(DatasetRecord.baseline_heartbeat_at.is_(None), DatasetRecord.baseline_heartbeat_at < cutoff)),
    )


def claim_baseline(db: Session, dataset_id: int, epochs: int, stale_after: float = BASELINE_STALE_SECONDS) -> bool:
    """Atomically take a dataset's baseline job; False when it is done, failed, or another live process has it.

    One conditional UPDATE, so two processes (a `pool prepare`, a server's runner, several
    Celery workers) never both compute the same dataset (the bot's run would be played twice).
    """
    now = utcnow()
    claimed = db.execute(
        update(DatasetRecord)
        .where(DatasetRecord.id == dataset_id, _claimable(now - dt.timedelta(seconds=stale_after)))
        .values(baseline_status=JOB_RUNNING, baseline_heartbeat_at=now, baseline_done=0,
                baseline_total=service.baseline_epochs_total(epochs), baseline_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(claimed)


class _Reporter:
    """Counts the job's trained epochs and writes them (with a heartbeat) to the dataset's row."""

    def __init__(self, session_factory: sessionmaker, dataset_id: int, forward=None) -> None:
        self.session_factory = session_factory
        self.dataset_id = dataset_id
        self.forward = forward
        self.epochs = 0
        self._throttle = Throttle(WRITE_EVERY_SECONDS)

    def batch(self, done: int, total: int) -> None:
        """Progress callback of a fixed-schedule training loop: (batches done, batches in the epoch)."""
        if self.forward:
            self.forward(done, total)  # may raise JobCancelled
        if done == total:
            self.epochs += 1
        self._write(force=done == total)

    def bot(self, run_id: int, done: int, total: int) -> None:
        """Progress callback of the bot's epoch jobs: (run, batches done, batches total), -1 at an epoch's end."""
        if self.forward:
            self.forward(run_id, done, total)
        if done == -1:
            self.epochs += 1
        self._write(force=done == -1)

    def _write(self, force: bool) -> None:
        if not self._throttle.due(force):
            return
        with self.session_factory() as db:
            db.execute(update(DatasetRecord).where(DatasetRecord.id == self.dataset_id)
                       .values(baseline_done=self.epochs, baseline_heartbeat_at=utcnow()))
            db.commit()


def compute_baseline(session_factory: sessionmaker, dataset_id: int, epochs: int, device: str = "cpu", progress=None,
                     wait: bool = False, stale_after: float = BASELINE_STALE_SECONDS) -> None:
    """Measure and store a dataset's three baselines (once): default schedule, linear classifier, bot.

    Each baseline gets the same epoch budget ``epochs`` (the game's 30 in production). The bot
    plays through the game's service functions, so its run is stored like a player's. When
    another live process holds the job, return at once, or with ``wait`` look again until it
    is done or its holder has died (then take it over). ``progress`` is called with whatever
    the training loops report and may raise JobCancelled to stop the job.
    """
    while True:
        with session_factory() as db:
            claimed = claim_baseline(db, dataset_id, epochs, stale_after)
            db.commit()
            record = db.get(DatasetRecord, dataset_id)
            if claimed or not wait or record is None or record.baseline_status != JOB_RUNNING:
                break
        if progress:
            progress(0, 0)  # lets the runner cancel the wait when it stops
        time.sleep(WAIT_POLL_SECONDS)
    if not claimed:
        return
    reporter = _Reporter(session_factory, dataset_id, progress)
    started = time.perf_counter()
    try:
        default_curve = service.default_curve(record, epochs, device, reporter.batch)
        linear = linear_classifier_score(service.generated(record.family, record.seed, record.size), epochs, seed=0,
                                         device=device)
        bot_run_id = play_bot_run(session_factory, dataset_id, epochs, device, reporter.bot)
    except (JobCancelled, KeyboardInterrupt, SystemExit):
        _release(session_factory, dataset_id)  # the next runner (or `pool prepare`) starts it again
        raise
    except Exception as exc:
        log.exception("baseline of dataset %s failed", dataset_id)
        with session_factory() as db:
            record = db.get(DatasetRecord, dataset_id)
            record.baseline_status, record.baseline_error = JOB_FAILED, str(exc)[:2000]
            db.commit()
        return
    with session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        record.baseline_default, record.baseline_linear = service.curve_best(default_curve), linear
        record.reference_curves = {**(record.reference_curves or {}), "default": default_curve}
        record.bot_run_id = bot_run_id
        record.baseline_bot = db.get(Run, bot_run_id).best_val_acc
        record.baseline_status = JOB_DONE
        record.baseline_done = record.baseline_total
        record.baseline_seconds = time.perf_counter() - started
        db.commit()


def _release(session_factory: sessionmaker, dataset_id: int) -> None:
    """Give an interrupted job back: pending again, so nobody waits for a heartbeat to go stale."""
    try:
        with session_factory() as db:
            db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id, DatasetRecord.baseline_status == JOB_RUNNING)
                       .values(baseline_status=JOB_PENDING, baseline_done=0))
            db.commit()
    except Exception:  # the database may be what failed; a stale heartbeat frees it later anyway
        log.warning("could not release the baseline job of dataset %s", dataset_id)


def pending_baselines(db: Session) -> list[int]:
    """Datasets whose baselines or reference players are not computed yet (also those a dead process left running)."""
    return list(db.scalars(select(DatasetRecord.id).where(or_(
        DatasetRecord.baseline_status.in_(JOB_UNFINISHED),
        and_(DatasetRecord.baseline_status == JOB_DONE, DatasetRecord.references_status.in_(JOB_UNFINISHED))))))


# ----------------------------------------------------------------------------- reference players


def claim_references(db: Session, dataset_id: int, stale_after: float = BASELINE_STALE_SECONDS) -> bool:
    """Atomically take a dataset's reference players (once its baselines are done); False if done or taken."""
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=stale_after)
    return bool(db.execute(
        update(DatasetRecord)
        .where(DatasetRecord.id == dataset_id, DatasetRecord.baseline_status == JOB_DONE,
               or_(DatasetRecord.references_status == JOB_PENDING,
                   and_(DatasetRecord.references_status == JOB_RUNNING,
                        or_(DatasetRecord.references_heartbeat_at.is_(None), DatasetRecord.references_heartbeat_at < cutoff))))
        .values(references_status=JOB_RUNNING, references_heartbeat_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount)


def compute_references(session_factory: sessionmaker, dataset_id: int, epochs: int, device: str = "cpu", progress=None,
                       stale_after: float = BASELINE_STALE_SECONDS) -> None:
    """Measure and store the debrief's reference players (a random player, the best of a schedule grid), once.

    Run after the baselines, so a dataset is playable before these are known; the result page
    says they are still being computed meanwhile.
    """
    with session_factory() as db:
        claimed = claim_references(db, dataset_id, stale_after)
        db.commit()
        if not claimed:
            return
        record = db.get(DatasetRecord, dataset_id)
        family, seed, size = record.family, record.seed, record.size
        known = {"default": record.reference_curves["default"]} if (record.reference_curves or {}).get("default") else {}
    heartbeats = Throttle(WRITE_EVERY_SECONDS)

    def beat(done: int, total: int) -> None:
        if progress:
            progress(done, total)  # may raise JobCancelled
        if heartbeats.due():
            with session_factory() as beat_db:
                beat_db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id)
                                .values(references_heartbeat_at=utcnow()))
                beat_db.commit()

    try:
        result = references.reference_players(service.generated(family, seed, size), epochs, device,
                                              data=service.placed(family, seed, size, device), progress=beat, known=known)
    except (JobCancelled, KeyboardInterrupt, SystemExit):
        with session_factory() as db:
            db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id, DatasetRecord.references_status == JOB_RUNNING)
                       .values(references_status=JOB_PENDING))
            db.commit()
        raise
    except Exception:
        log.exception("reference players of dataset %s failed", dataset_id)
        with session_factory() as db:
            db.execute(update(DatasetRecord).where(DatasetRecord.id == dataset_id).values(references_status=JOB_FAILED))
            db.commit()
        return
    with session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        stored = result.as_dict()
        record.reference_curves = {**(record.reference_curves or {}), "random": stored["random"],
                                   "schedules": stored["schedules"]}
        record.baseline_random, record.baseline_oracle = result.random_score, result.oracle_score
        record.oracle_schedule = result.oracle_name
        record.references_status = JOB_DONE
        db.commit()
