"""The executor: leases jobs of its lanes in priority order and runs them, with retries; every runner has some.

Long jobs call ``ctx.yield_point()`` between training steps; there the executor runs any waiting
job of a higher lane first (nested, on this thread: the long job's state waits in memory), pauses
pool and background work while a player's epoch computes (embedded mode's CPU budget; the debrief's
work shares the cores instead) and stops the job if the runner is stopping. Embedded executors learn
of new work from their shared ``Signals``; scaled-out ones from ``BrokerSignals`` in Redis, where
they also say while they run a job (so a run's next epoch goes to a free worker).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker

from app.errors import JobCancelled
from app.jobs import broker_signals, lease, registry
from app.jobs.broker_signals import BrokerSignals
from app.jobs.context import JobContext
from app.jobs.keeper import LeaseKeeper
from app.jobs.lanes import PAUSED_FOR_PLAYERS, higher_than
from app.jobs.models import Job
from app.jobs.signals import Signals
from app.settings import Settings

log = logging.getLogger(__name__)

#: How often an idle executor looks for due jobs nobody announced (a back-off that ended, a dead holder's job).
POLL_SECONDS = 1.0
#: How often, at most, a busy job looks in the database for higher-priority work nobody announced.
YIELD_LOOK_SECONDS = 2.0


def is_transient(exc: BaseException) -> bool:
    """A failure that may pass by itself: the database busy, restarting or unreachable, a broker or socket down."""
    if isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        import redis
    except ImportError:  # pragma: no cover - redis is a runtime dependency
        return False
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError))


def describe_error(exc: BaseException) -> str:
    """One line for the dashboard: the exception's type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Executor:
    """Runs the jobs of ``lanes``: the same loop for the embedded threads and processes and Celery's workers."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, device: str, lanes, holder: str,
                 keeper: LeaseKeeper, publish: Callable[[int, bool], None] | None = None, stopping=None,
                 signals: Signals | None = None, slot: int = 0, served_by: str | None = None,
                 share_cores: bool = True, broker: BrokerSignals | None = None) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.device = device
        self.lanes = tuple(lanes)
        self.holder = holder
        self.keeper = keeper
        self._publish = publish
        self.stopping = stopping or threading.Event()
        self.signals = signals
        self.slot = slot
        self.served_by = served_by
        #: Scaled-out mode: new-work counters, and which of this worker's processes run a job, in Redis.
        self.broker = broker
        #: Embedded mode: train with this job's share of the cores (off when HYPERQUEST_TRAINING_THREADS fixes it).
        self.share_cores = share_cores and signals is not None and not settings.training_threads
        #: Wakes an executor without shared signals (the I/O lane's thread, a Celery worker's idle loop).
        self._wake = threading.Event()
        self._threads = 0
        self._last_look = 0.0
        self._last_read = 0.0
        self._seen_generation = -1

    # ------------------------------------------------------------------ serving

    def serve(self) -> None:
        """Run jobs until the runner stops; idle, wait for new work (or poll)."""
        while not self.stopping.is_set():
            seen = self.signals.generation(self.lanes) if self.signals else 0
            try:
                ran = self.run_next()
            except JobCancelled:
                return
            except Exception as exc:  # the database is away: wait and look again
                log.warning("could not look for jobs: %s", exc)
                ran = False
            if ran:
                continue
            if self.signals:
                self.signals.wait_for_work(self.lanes, seen, POLL_SECONDS)
            else:
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()

    def wake(self) -> None:
        """New work was announced (executors without shared signals)."""
        self._wake.set()

    def run_next(self, lanes=None) -> bool:
        """Lease and run the next due job of ``lanes`` (default: all of this executor's); False if there was none."""
        with self.session_factory() as db:
            job_id = lease.claim_next(db, lanes or self.lanes, self.holder, self.settings.stale_after_seconds,
                                      self.served_by)
            db.commit()
        if job_id is None:
            return False
        self._run(job_id)
        return True

    def run_job(self, job_id: int) -> bool:
        """Lease and run ``job_id`` if it is due and nobody live holds it (a Celery task's body); False otherwise."""
        with self.session_factory() as db:
            claimed = lease.claim(db, job_id, self.holder, self.settings.stale_after_seconds)
            db.commit()
        if claimed:
            self._run(job_id)
        return claimed

    def publish(self, run_id: int, boundary: bool = True) -> None:
        """Nudge the live pages of ``run_id`` (``boundary``: a job's start or end, never throttled)."""
        if self._publish is not None:
            self._publish(run_id, boundary)

    # ------------------------------------------------------------------ one job

    def _run(self, job_id: int) -> None:
        with self.session_factory() as db:
            job = db.get(Job, job_id)
            kind_name, subject_id, attempts = job.kind, job.subject_id, job.attempts
        kind = registry.kind(kind_name)
        limit = kind.retry.attempts_limit(self.settings)
        if attempts > limit:  # every earlier start died with its runner (killed, out of memory): stop here
            self._give_up(job_id, kind, subject_id, f"its runner stopped {attempts - 1} times while running it "
                                                    "(killed, or out of memory)", holder=self.holder)
            return
        self.keeper.hold(job_id, self.holder)
        previous = self._enter(kind.lane)
        try:
            try:
                kind.run(JobContext(self, job_id, kind.lane), subject_id)
            finally:
                # Done computing before the outcome is recorded: a player who acts on the stored
                # epoch at once finds this worker free for their run's next one.
                self._leave(previous)
        except JobCancelled:
            self._settle(lambda db: lease.release(db, job_id, self.holder))
            raise
        except Exception as exc:
            self._failed(job_id, kind, subject_id, exc)
        else:
            self._settle(lambda db: lease.finish(db, job_id, self.holder))
        finally:
            self.keeper.drop(job_id)

    def _failed(self, job_id: int, kind: registry.JobKind, subject_id: int, exc: Exception) -> None:
        error = describe_error(exc)
        if not (is_transient(exc) or kind.retry.all_errors_transient):
            log.exception("job %s (%s %s) failed", job_id, kind.name, subject_id)
            self._give_up(job_id, kind, subject_id, error, holder=self.holder)
            return
        with self.session_factory() as db:
            retries = (db.scalar(select(Job.retries).where(Job.id == job_id)) or 0) + 1
        if kind.retry.gives_up_after(retries):
            self._give_up(job_id, kind, subject_id, f"{error} (after {retries - 1} retries)", holder=self.holder)
            return
        delay = kind.retry.delay(retries, self.settings)
        log.warning("job %s (%s %s) failed, retried in %.0f s: %s", job_id, kind.name, subject_id, delay, error)
        self._settle(lambda db: lease.retry_later(db, job_id, self.holder, error, delay))

    def _give_up(self, job_id: int, kind: registry.JobKind, subject_id: int, error: str, holder: str | None) -> None:
        """Fail the job for good, and let its domain record what that means (in the same transaction)."""

        def write(db) -> None:
            if lease.fail(db, job_id, holder, error) and kind.gave_up is not None:
                kind.gave_up(db, subject_id, error)

        self._settle(write)
        log.error("job %s (%s %s) gave up: %s", job_id, kind.name, subject_id, error)

    def _settle(self, write) -> None:
        """Record a job's outcome; if the database is away, the lease goes stale and the job runs again."""
        try:
            with self.session_factory() as db:
                write(db)
                db.commit()
        except Exception as exc:
            log.warning("could not record a job's outcome (it will be run again): %s", exc)

    # ------------------------------------------------------------------ yielding and the CPU budget

    def yield_point(self, ctx: JobContext) -> None:
        """See JobContext.yield_point."""
        if self.stopping.is_set():
            raise JobCancelled()
        higher = [lane for lane in higher_than(ctx.lane) if lane in self.lanes]
        if higher and self._worth_a_look(higher):
            while self.run_next(higher):  # nested: this job waits in memory meanwhile
                pass
        if self.signals is not None:
            if ctx.lane in PAUSED_FOR_PLAYERS and self.signals.players_computing():
                self._pause_for_players(ctx, higher)
            if self.share_cores:
                self._adjust_threads()

    def _worth_a_look(self, lanes) -> bool:
        """Query for higher-priority work only when some was announced, or now and then."""
        now = time.monotonic()
        if self.signals is not None:
            generation = self.signals.generation(lanes)
        elif self.broker is not None and now - self._last_read >= broker_signals.LOOK_SECONDS:
            self._last_read = now  # a Redis read: not at every training step
            generation = self.broker.generation(lanes)
        else:
            generation = self._seen_generation
        if generation != self._seen_generation or now - self._last_look >= YIELD_LOOK_SECONDS:
            self._seen_generation, self._last_look = generation, now
            return True
        return False

    def _pause_for_players(self, ctx: JobContext, higher) -> None:
        """Pool and background work wait (keeping their place and memory) while players' epochs use the cores."""
        self.signals.set_busy(self.slot, None)
        try:
            while self.signals.players_computing():
                if self.stopping.is_set():
                    raise JobCancelled()
                if higher and self._worth_a_look(higher):
                    while self.run_next(higher):
                        pass
                self.signals.nap()
        finally:
            self.signals.set_busy(self.slot, ctx.lane)

    def _enter(self, lane: str) -> str | None:
        """Count this slot as computing a job of ``lane``; returns what it computed before (a nested job's outer one)."""
        previous = self._busy_lane
        self._tell_broker(lane)
        self._busy_lane = lane
        if self.signals is None:
            return previous
        self.signals.set_busy(self.slot, lane)
        if self.share_cores:
            self._adjust_threads()
        return previous

    def _leave(self, previous: str | None) -> None:
        self._tell_broker(previous)
        self._busy_lane = previous
        if self.signals is not None:
            self.signals.set_busy(self.slot, previous)

    def _tell_broker(self, lane: str | None) -> None:
        """Scaled out: say when this process starts or stops running jobs (the dispatcher routes runs' epochs by it)."""
        if self.broker is not None and self.served_by is not None and (lane is None) != (self._busy_lane is None):
            self.broker.working(self.served_by, self.holder, lane is not None)

    _busy_lane: str | None = None

    def _adjust_threads(self) -> None:
        """Train with this job's share of the cores (set only when the share changed)."""
        threads = self.signals.threads_for_one_job()
        if threads != self._threads:
            import torch

            torch.set_num_threads(threads)
            self._threads = threads
