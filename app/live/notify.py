"""Nudging live pages when a run changes. The database stays the truth; this only wakes streams."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import defaultdict
from typing import Iterator


class Notifier:
    """Thread-safe publish, asyncio subscriptions: training threads publish, SSE streams wait."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[int, set[asyncio.Event]] = defaultdict(set)
        #: Streams that watch every run (the instructor's live page follows a whole class).
        self._everything: set[asyncio.Event] = set()
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the web server's event loop (called at start-up)."""
        self._loop = loop

    def publish(self, run_id: int) -> None:
        """Wake every stream watching ``run_id``; safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            events = list(self._events.get(run_id, ())) + list(self._everything)
        for event in events:
            loop.call_soon_threadsafe(event.set)

    @contextlib.contextmanager
    def subscribe(self, run_id: int) -> Iterator["Subscription"]:
        """Watch ``run_id`` for the life of the block; a publish at any moment inside it is kept."""
        event = asyncio.Event()
        with self._lock:
            self._events[run_id].add(event)
        try:
            yield Subscription(event)
        finally:
            with self._lock:
                self._events[run_id].discard(event)
                if not self._events[run_id]:
                    del self._events[run_id]

    @contextlib.contextmanager
    def subscribe_all(self) -> Iterator["Subscription"]:
        """Watch every run for the life of the block (a class-wide page filters what it reads itself)."""
        event = asyncio.Event()
        with self._lock:
            self._everything.add(event)
        try:
            yield Subscription(event)
        finally:
            with self._lock:
                self._everything.discard(event)

    @property
    def open_streams(self) -> int:
        """How many streams are waiting right now."""
        with self._lock:
            return sum(len(v) for v in self._events.values()) + len(self._everything)


class Subscription:
    """One stream's view of a run's nudges (see ``Notifier.subscribe``)."""

    def __init__(self, event: asyncio.Event) -> None:
        self._event = event

    async def wait(self, timeout: float) -> None:
        """Return at once if the run was published since the last wait, else at the next publish or timeout."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self._event.clear()
