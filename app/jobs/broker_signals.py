"""What scaled-out processes tell each other through Redis: new work, and which workers are free for a player.

The embedded runner's executors share ``app.jobs.signals.Signals`` in memory; Celery workers on
several machines share these few Redis keys instead:

- New work: a counter per lane, bumped after a job of that lane is sent to the broker. A worker
  busy with pool work reads it at its yield points (one small read, at most every
  ``LOOK_SECONDS``) and looks in the database only when it changed, so a player's epoch waits for
  the pool job's next training step, not for a poll.
- Who is free: a worker's own queue has an alive key (its value: how many pool processes serve it)
  and a sorted set of its processes running a job now. A run's next epoch goes to the worker
  holding its data only while that worker has an idle process; otherwise to the lane's shared
  queue, where an idle worker, or one yielding between pool steps, takes it at once instead of
  waiting behind whatever the holder runs (a baseline being generated has no yield point).

Every read and write tolerates Redis being away: no generation (executors fall back to their poll),
no worker free (epochs go to the shared queue). The broker's own queues are the truth for delivery.
"""

from __future__ import annotations

import logging
import time

import redis

from app.jobs.celery_config import alive_key
from app.jobs.lanes import LANES
from app.jobs.lease import process_is_dead
from app.settings import Settings

log = logging.getLogger(__name__)

#: How often, at most, a busy executor reads the new-work counters.
LOOK_SECONDS = 0.05
#: How long a process counts as busy without saying it stopped. Long, for seeming busy only sends a
#: run's epoch to the shared queue; a process that died is forgotten sooner, by its replacement.
BUSY_AT_MOST_SECONDS = 6 * 3600


class BrokerSignals:
    """New-work counters, workers' alive keys and their processes running a job, kept in Redis."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._redis = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=2)
        self._prefix = settings.redis_prefix
        self._warned = False

    # -------------------------------------------------------------- new work

    def announce(self, lanes) -> None:
        """Jobs of ``lanes`` were sent to the broker: bump their counters."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for lane in set(lanes):
                    pipe.incr(self._generation_key(lane))
                pipe.execute()
        except redis.RedisError as exc:
            self._warn(exc)

    def generation(self, lanes) -> int:
        """A number that changes whenever work of ``lanes`` is announced (0 while Redis is away)."""
        try:
            values = self._redis.mget([self._generation_key(lane) for lane in lanes])
        except redis.RedisError as exc:
            self._warn(exc)
            return 0
        return sum(int(value) for value in values if value is not None)

    # -------------------------------------------------------------- who is free

    def alive(self, queue: str) -> bool:
        """True while the worker serving its own ``queue`` keeps its alive key set."""
        try:
            return bool(self._redis.exists(alive_key(self.settings, queue)))
        except redis.RedisError as exc:
            self._warn(exc)
            return False

    def available(self, queue: str) -> bool:
        """True while the worker of ``queue`` lives and has a process not running a job."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(alive_key(self.settings, queue))
                pipe.zcount(self._busy_key(queue), time.time(), "+inf")
                processes, busy = pipe.execute()
        except redis.RedisError as exc:
            self._warn(exc)
            return False
        if processes is None:
            return False
        try:
            capacity = max(1, int(processes))
        except ValueError:  # an alive key written before it carried the process count
            capacity = 1
        return busy < capacity

    def working(self, queue: str, holder: str, busy: bool) -> None:
        """Process ``holder`` of ``queue``'s worker starts (True) or stops (False) running a job."""
        key = self._busy_key(queue)
        try:
            if busy:
                now = time.time()
                with self._redis.pipeline(transaction=False) as pipe:
                    pipe.zadd(key, {holder: now + BUSY_AT_MOST_SECONDS})
                    pipe.zremrangebyscore(key, "-inf", now)
                    pipe.expire(key, BUSY_AT_MOST_SECONDS)
                    pipe.execute()
            else:
                self._redis.zrem(key, holder)
        except redis.RedisError as exc:
            self._warn(exc)

    def forget_dead(self, queue: str) -> None:
        """Stop counting the processes of this host that died mid-job (killed, out of memory) as busy."""
        key = self._busy_key(queue)
        try:
            dead = [holder for holder in self._redis.zrange(key, 0, -1) if process_is_dead(holder.decode())]
            if dead:
                self._redis.zrem(key, *dead)
        except redis.RedisError as exc:
            self._warn(exc)

    # -------------------------------------------------------------- keys

    def _generation_key(self, lane: str) -> str:
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}")
        return f"{self._prefix}:new-work:{lane}"

    def _busy_key(self, queue: str) -> str:
        return f"{self._prefix}:busy:{queue}"

    def _warn(self, exc: Exception) -> None:
        if not self._warned:  # once per process: every yield point would repeat it
            log.warning("Redis unreachable for worker signals (falling back to polling): %s", exc)
            self._warned = True
