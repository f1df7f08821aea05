"""A worker's sign of life in Redis, so the web app sends a run's epochs to it only while it lives."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading

import redis

from app.settings import Settings
from app.jobs.celery_config import alive_key

log = logging.getLogger(__name__)


def keep_alive(settings: Settings, queue: str, processes: int = 1) -> threading.Thread:
    """Keep ``queue``'s alive key set (refreshed at a third of its time-to-live) until the process exits.

    Its value is the worker's pool processes: how many jobs it runs at once
    (app.jobs.broker_signals.BrokerSignals.available).
    """
    key = alive_key(settings, queue)
    ttl_ms = max(1, int(settings.worker_alive_seconds * 1000))
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
    stop = threading.Event()
    owner = os.getpid()

    def beat() -> None:
        while not stop.is_set():
            try:
                client.set(key, str(processes), px=ttl_ms)
            except redis.RedisError as exc:  # runs then go to the shared queue: slower, never lost
                log.warning("worker heartbeat failed: %s", exc)
            stop.wait(settings.worker_alive_seconds / 3)

    def goodbye() -> None:
        # A worker that stops cleanly says so at once, so no epoch is sent to its queue meanwhile.
        if os.getpid() != owner:
            return  # a forked pool process inherits this handler; only the worker itself says goodbye
        stop.set()
        with contextlib.suppress(redis.RedisError):
            client.delete(key)

    thread = threading.Thread(target=beat, name="hq-worker-heartbeat", daemon=True)
    thread.start()
    atexit.register(goodbye)
    return thread
