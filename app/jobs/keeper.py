"""Heartbeats of the leases a process holds, written by a thread of their own.

Training code never writes a heartbeat: a busy database then delays a beat, never an epoch, and a
beat that fails is simply tried again at the next one.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import sessionmaker

from app.jobs import lease

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Keeps the heartbeat of every job this process holds fresh, every ``interval`` seconds."""

    def __init__(self, session_factory: sessionmaker, interval: float) -> None:
        self.session_factory = session_factory
        self.interval = interval
        self._held: dict[int, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "LeaseKeeper":
        """Start the heartbeat thread."""
        self._thread = threading.Thread(target=self._loop, name="hq-lease-keeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating (leases then go stale unless finished or released)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def hold(self, job_id: int, holder: str) -> None:
        """Beat for ``job_id`` until ``drop``."""
        with self._lock:
            self._held[job_id] = holder

    def drop(self, job_id: int) -> None:
        """Stop beating for ``job_id``."""
        with self._lock:
            self._held.pop(job_id, None)

    def beat_now(self) -> None:
        """Write one round of heartbeats."""
        with self._lock:
            by_holder: dict[str, list[int]] = {}
            for job_id, holder in self._held.items():
                by_holder.setdefault(holder, []).append(job_id)
        if not by_holder:
            return
        with self.session_factory() as db:
            for holder, ids in by_holder.items():
                lease.beat(db, ids, holder)
            db.commit()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat_now()
            except Exception as exc:  # the database is busy or away: the next beat tries again
                log.warning("heartbeat skipped: %s", exc)


def beat_interval(stale_after: float) -> float:
    """Beats often enough that a lease goes stale only after several missed ones."""
    return max(0.2, min(5.0, stale_after / 5))
