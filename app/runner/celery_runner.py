"""The scaled-out mode's runner in the web process: sends jobs to Celery and keeps them moving.

Three daemon threads:
- the dispatcher sends committed jobs to the broker, so a slow or absent Redis never blocks a
  request (a failed send leaves the action marked unsent);
- the reconciler re-sends what is stuck: never sent, lost from the queue (Redis restarted),
  trained by a worker that stopped reporting (killed), or waiting in a dead worker's own queue;
  one web process does it per interval;

A run's epochs go to the own queue of the worker that trained its last epoch while that worker
is alive (its heartbeat key in Redis), so its dataset is not generated and placed again elsewhere.
- the nudge listener relays workers' Redis nudges to this process's SSE streams.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

import redis
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.datasets import jobs as dataset_jobs
from app.debrief import jobs as debrief_jobs
from app.grades.sender import GradeSender
from app.runner.notify import Notifier
from app.runner.nudges import NudgeListener
from app.runs import dispatch
from app.settings import Settings
from app.runner.celery_config import COMPUTE_BASELINE, COMPUTE_BRANCH, TRAIN_EPOCH, alive_key, make_celery

log = logging.getLogger(__name__)

_STOP = ("stop", 0)
#: A send that cannot reach the broker gives up quickly: the reconciler tries again later.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5}


class CeleryRunner:
    """The scaled-out runner (app.runner.protocol.Runner): jobs go to Celery workers over Redis."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, notifier: Notifier) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.notifier = notifier
        self.celery = make_celery(settings)
        self._redis = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
        self._listener = NudgeListener(settings.redis_url, settings.redis_prefix, notifier)
        self._outbox: queue.Queue = queue.Queue()
        self._in_outbox: set[tuple[str, int]] = set()
        self._outbox_lock = threading.Lock()
        #: When each background job was last sent: ("baseline" | "branch", id) -> monotonic seconds.
        self._background_sent: dict[tuple[str, int], float] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        #: False while the broker cannot be reached; pages then tell players their epoch waits safely.
        self.healthy = True
        #: Posts grades to LMS gradebooks from the web process: network I/O, which needs no worker.
        self.grades = GradeSender(session_factory, settings)

    def start(self) -> None:
        """Start the threads; the first reconciliation sends whatever earlier processes left unsent."""
        self._listener.start()
        self._threads = [
            threading.Thread(target=self._dispatch_loop, name="hq-dispatch", daemon=True),
            threading.Thread(target=self._reconcile_loop, name="hq-reconcile", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.grades.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads (queued jobs are in the database and the broker, not here)."""
        self._stopping.set()
        self.grades.stop()
        self._outbox.put(_STOP)
        for thread in self._threads:
            thread.join(timeout)
        self._listener.stop()

    def submit_action(self, action_id: int) -> None:
        """Send a committed action's epoch (from a background thread)."""
        self._enqueue(("epoch", action_id))

    def submit_baseline(self, dataset_id: int) -> None:
        """Send a committed dataset's baseline computation."""
        self._enqueue(("baseline", dataset_id))

    def submit_branch(self, branch_id: int) -> None:
        """Send a committed debrief branch."""
        self._enqueue(("branch", branch_id))

    def submit_grades(self) -> None:
        """Post the grades just planned (they are in the database; failed posts are retried by the sender)."""
        self.grades.wake()

    def _enqueue(self, job: tuple[str, int]) -> None:
        with self._outbox_lock:
            if job in self._in_outbox:
                return
            self._in_outbox.add(job)
        self._outbox.put(job)

    # ------------------------------------------------------------------ dispatcher

    def _dispatch_loop(self) -> None:
        while True:
            job = self._outbox.get()
            if job == _STOP:
                return
            with self._outbox_lock:
                self._in_outbox.discard(job)
            try:
                self._send(*job)
                self.healthy = True
            except Exception as exc:  # broker or database down: the reconciler re-sends later
                self.healthy = False
                log.warning("could not send %s %s: %s", job[0], job[1], exc)

    def _send(self, kind: str, job_id: int) -> None:
        if kind != "epoch":
            task = COMPUTE_BRANCH if kind == "branch" else COMPUTE_BASELINE
            self.celery.send_task(task, args=[job_id], retry=True, retry_policy=SEND_RETRY_POLICY)
            self._background_sent[(kind, job_id)] = time.monotonic()
            return
        with self.session_factory() as db:
            queue = dispatch.sticky_queue(db, job_id)
        if queue is not None and not self._alive(queue):
            queue = None  # that worker is gone: any worker may take it (and generate the data once)
        options = {"queue": queue} if queue else {}
        self.celery.send_task(TRAIN_EPOCH, args=[job_id], retry=True, retry_policy=SEND_RETRY_POLICY, **options)
        with self.session_factory() as db:
            dispatch.mark_dispatched(db, job_id, queue)
            db.commit()

    def _alive(self, queue: str) -> bool:
        """True while the worker serving its own ``queue`` keeps its heartbeat key set."""
        try:
            return bool(self._redis.exists(alive_key(self.settings, queue)))
        except redis.RedisError:
            return False

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
        """One web process per interval reconciles (a Redis lock); all of them if Redis is down."""
        key = f"{self.settings.redis_prefix}:reconciler"
        ttl_ms = max(1, int(self.settings.reconcile_every_seconds * 1000 * 0.9))
        try:
            taken = bool(self._redis.set(key, "1", nx=True, px=ttl_ms))
            self.healthy = True
            return taken
        except redis.RedisError:
            self.healthy = False
            return False  # nothing can be sent anyway; try again next interval

    def reconcile(self) -> None:
        """Queue for sending every action that is unsent, lost, or stuck with a dead worker."""
        with self.session_factory() as db:
            actions = dispatch.actions_to_send(db, self.settings.stale_after_seconds, self.settings.resend_after_seconds)
            waiting = dispatch.waiting_on_own_queues(db)
            background = [("baseline", d) for d in dataset_jobs.pending_baselines(db)]
            background += [("branch", b) for b in debrief_jobs.pending_branches(db, self.settings.stale_after_seconds)]
        # An epoch waiting in the own queue of a worker that died is sent again (to the shared queue).
        actions += [action_id for action_id, queue in waiting if action_id not in actions and not self._alive(queue)]
        for action_id in actions:
            self.submit_action(action_id)
        now = time.monotonic()
        for job in background:
            sent = self._background_sent.get(job)
            if sent is None or now - sent > self.settings.resend_after_seconds:
                self._enqueue(job)
