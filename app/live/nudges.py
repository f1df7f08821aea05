"""Redis pub/sub nudges between workers and web processes (scaled-out mode).

The database is the truth: a nudge only says "run N changed, look again", so a lost nudge
costs at most one SSE poll interval and Redis being down never loses anything.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from app.live.notify import Notifier

log = logging.getLogger(__name__)

#: Progress nudges per run are sent at most this often; starts and ends always go out.
PUBLISH_INTERVAL = 0.25


def channel_name(prefix: str) -> str:
    """The pub/sub channel run changes are announced on."""
    return f"{prefix}:runs"


class NudgePublisher:
    """Publishes run changes from a worker; failures are logged, never raised into training."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
        self._channel = channel_name(prefix)
        self._last: dict[int, float] = {}

    def publish(self, run_id: int, boundary: bool = True) -> None:
        """Announce that ``run_id`` changed; mid-step progress (not a ``boundary``) at most every PUBLISH_INTERVAL."""
        now = time.monotonic()
        if not boundary and now - self._last.get(run_id, 0.0) < PUBLISH_INTERVAL:
            return
        self._last[run_id] = now
        try:
            self._client.publish(self._channel, str(run_id))
        except redis.RedisError as exc:
            log.debug("nudge for run %s not sent: %s", run_id, exc)


class NudgeListener:
    """A web process's thread that turns Redis nudges into Notifier wake-ups, reconnecting forever."""

    def __init__(self, redis_url: str, prefix: str, notifier: Notifier) -> None:
        self._redis_url = redis_url
        self._channel = channel_name(prefix)
        self._notifier = notifier
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        """Start listening in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="hq-nudges", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self._redis_url, socket_connect_timeout=1, socket_timeout=5)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._channel)
                self.connected.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._wake(message["data"])
                pubsub.close()
            except (redis.RedisError, OSError) as exc:
                self.connected.clear()
                log.warning("live-update channel unavailable (%s); pages fall back to polling", exc)
                self._stop.wait(1.0)

    def _wake(self, data: bytes) -> None:
        try:
            self._notifier.publish(int(data))
        except ValueError:
            log.debug("ignored malformed nudge %r", data)
