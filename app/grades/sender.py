"""The runner's grade sender: a thread that posts due scores to LMS gradebooks and retries failed ones.

Every runner (the embedded thread and process runners, the scaled-out one) owns one. Posting is
network I/O, not training, so it never waits behind an epoch or a baseline. Several web processes
may each run one: a post is claimed under a row lock, so it goes out once.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from app.settings import Settings

log = logging.getLogger(__name__)

#: How often the sender looks for posts that became due (a retry's time came) when nothing woke it.
POLL_SECONDS = 5.0


class GradeSender:
    """Posts pending grades as soon as they are planned (``wake``) and retries failures when they fall due."""

    def __init__(self, session_factory: sessionmaker, settings: Settings, poll_seconds: float = POLL_SECONDS) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.poll_seconds = min(poll_seconds, settings.grade_retry_seconds)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (posts left pending by an earlier process go out first)."""
        self._thread = threading.Thread(target=self._loop, name="hq-grades", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop after the post in progress (a post cut short is retried by the next process)."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Look for due posts now (a run just ended, or an instructor asked)."""
        self._wake.set()

    def send_due(self) -> int:
        """Send every due post once; how many were attempted."""
        from app.grades import jobs, service

        with self.session_factory() as db:
            due = service.due_posts(db, self.settings.stale_after_seconds)
        for post_id in due:
            if self._stopping.is_set():
                break
            jobs.send_post(self.session_factory, post_id, self.settings.grade_retry_seconds,
                           self.settings.stale_after_seconds)
        return len(due)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.send_due()
            except SQLAlchemyError as exc:  # the database is briefly unreachable: try again next round
                log.warning("grade posts skipped: %s", exc)
            except Exception:  # one bad post must not stop every later one
                log.exception("grade sender round failed")
            self._wake.wait(self.poll_seconds)
