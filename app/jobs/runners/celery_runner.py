"""The scaled-out mode's runner in a web process: hands jobs to Celery and keeps them moving.

Threads:
- the dispatcher sends jobs to the broker once their transaction has committed, so a slow or
  absent Redis never blocks a request (a failed send is retried by the reconciler);
- the reconciler re-sends what is stuck: never sent, due again after a back-off, lost from the
  queue (Redis restarted), waiting in a dead worker's own queue, or leased by a worker that stopped
  reporting; one web process does it per interval (a Redis lock);
- the nudge listener relays workers' Redis nudges to this process's live pages;
- the I/O lane posts grades.
"""

from __future__ import annotations

import logging
import queue
import threading

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import make_celery
from app.jobs.keeper import LeaseKeeper, beat_interval
from app.jobs.lanes import IO
from app.jobs.queue import on_new_work
from app.jobs.runners.celery_dispatch import jobs_to_send, send_jobs
from app.jobs.runners.io_lane import IoLane
from app.live.notify import Notifier
from app.live.nudges import NudgeListener
from app.settings import Settings

log = logging.getLogger(__name__)

_STOP = -1


class CeleryRunner:
    """The scaled-out runner (app.jobs.runners.Runner): jobs go to Celery workers over Redis."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, notifier: Notifier) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.notifier = notifier
        self.celery = make_celery(settings)
        self._redis = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
        self._signals = BrokerSignals(settings)
        self._listener = NudgeListener(settings.redis_url, settings.redis_prefix, notifier)
        self._outbox: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._keeper = LeaseKeeper(session_factory, beat_interval(settings.stale_after_seconds))
        self._io = IoLane(session_factory, settings, self._keeper)
        self._unlisten = None
        #: False while the broker cannot be reached; pages then tell players their work waits safely.
        self.healthy = True

    def start(self) -> None:
        """Start the threads; the first reconciliation sends whatever earlier processes left unsent."""
        self._listener.start()
        self._keeper.start()
        self._io.start()
        self._threads = [
            threading.Thread(target=self._dispatch_loop, name="hq-dispatch", daemon=True),
            threading.Thread(target=self._reconcile_loop, name="hq-reconcile", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._unlisten = on_new_work(self.session_factory, self.new_work)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads (queued jobs are in the database and the broker, not here)."""
        if self._unlisten is None:
            return  # never started, or stopped already
        self._unlisten()
        self._unlisten = None
        self._stopping.set()
        self._io.stop()
        self._outbox.put([_STOP])
        for thread in self._threads:
            thread.join(timeout)
        self._keeper.stop()
        self._listener.stop()

    def new_work(self, jobs: list[tuple[int, str]]) -> None:
        """Send the new training jobs (from the dispatcher thread); wake the I/O lane for network ones."""
        training = [job_id for job_id, lane in jobs if lane != IO]
        if training:
            self._outbox.put(training)
        if len(training) < len(jobs):
            self._io.wake()

    # ------------------------------------------------------------------ dispatcher

    def _dispatch_loop(self) -> None:
        while True:
            ids = self._outbox.get()
            if _STOP in ids:
                return
            try:
                send_jobs(self.celery, self.session_factory, self.settings, ids, self._signals)
                self.healthy = True
            except Exception as exc:  # broker or database down: the reconciler re-sends later
                self.healthy = False
                log.warning("could not send jobs %s: %s", ids, exc)

    # ------------------------------------------------------------------ reconciler

    def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._take_turn():
                    self.reconcile()
            except (SQLAlchemyError, redis.RedisError, OSError) as exc:
                log.warning("reconciliation skipped: %s", exc)
            self._stopping.wait(self.settings.reconcile_every_seconds)

    def _take_turn(self) -> bool:
        """One web process per interval reconciles (a Redis lock); none while Redis is down (nothing can be sent)."""
        key = f"{self.settings.redis_prefix}:reconciler"
        ttl_ms = max(1, int(self.settings.reconcile_every_seconds * 1000 * 0.9))
        try:
            taken = bool(self._redis.set(key, "1", nx=True, px=ttl_ms))
            self.healthy = True
            return taken
        except redis.RedisError:
            self.healthy = False
            return False

    def reconcile(self) -> None:
        """Queue for sending every job that is unsent, due again, lost, or orphaned by a dead worker."""
        with self.session_factory() as db:
            due = jobs_to_send(db, self.settings, self._signals.alive)
        if due:
            self._outbox.put(due)
