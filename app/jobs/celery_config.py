"""How the scaled-out mode's Celery is configured: one task, one queue per lane, consumed in priority order.

Celery is only the transport: a message carries a job id, the job row is the truth. It lives on the
app side because the web process sends tasks by name with ``make_celery``; workers (the ``worker``
package, which depends on ``app``, never the other way round) load the instance in
``worker.celery_app``, which registers ``worker.tasks``.
"""

from __future__ import annotations

from celery import Celery

from app.jobs.lanes import PLAYERS, TRAINING_LANES
from app.settings import Settings

#: The one task name: the contract between the web app (which sends) and workers (which run it).
RUN_JOB = "hyperquest.run_job"

#: Environment variables through which `hyperquest worker` tells its pool processes their worker's
#: own queue and the lanes it serves.
OWN_QUEUE_ENV = "HYPERQUEST_OWN_QUEUE"
LANES_ENV = "HYPERQUEST_WORKER_LANES"


def lane_queue(settings: Settings, lane: str) -> str:
    """The broker queue of a lane; prefixed so deployments (and tests) sharing a Redis stay apart."""
    return f"{settings.redis_prefix}.{lane}"


def own_queue(settings: Settings, worker_name: str) -> str:
    """The players' queue only this worker takes: a run's next epoch goes there while the worker lives."""
    return f"{settings.redis_prefix}.{TRAINING_LANES[0]}.{worker_name}"


def alive_key(settings: Settings, queue: str) -> str:
    """Redis key a worker keeps set (with a time-to-live) while it serves ``queue``."""
    return f"{settings.redis_prefix}:alive:{queue}"


def time_limits(settings: Settings, lane: str) -> dict:
    """Celery's time limits for a job of ``lane``, as send_task options: a player's epoch has them, nothing else.

    A job of a lower lane runs the waiting jobs of higher lanes nested between its own epochs
    (app.jobs.executor), so its task lasts as long as the work it yields to. A limit on it fired inside
    whichever job was nested at that moment and failed that job for good (a player's debrief branch,
    seen with 2 workers on 2 cores). A dead or stuck worker is found by its lease's heartbeat instead.
    """
    if lane != PLAYERS:
        return {}
    return {"soft_time_limit": settings.task_soft_time_limit, "time_limit": settings.task_time_limit}


def make_celery(settings: Settings) -> Celery:
    """A Celery app whose delivery rules make a job survive a dying worker, taking queues in lane order."""
    if not settings.redis_url:
        raise ValueError("the scaled-out mode needs HYPERQUEST_REDIS_URL")
    celery = Celery("hyperquest", broker=settings.redis_url)
    celery.conf.update(
        # A job is acknowledged only once it has finished, and a worker process takes one at a time,
        # so a killed worker's job goes back to the queue rather than vanishing with it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in the database, not in Redis
        # No time limit for every task: a player's epoch carries its own (time_limits below).
        task_default_queue=lane_queue(settings, TRAINING_LANES[-1]),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "global_keyprefix": f"{settings.redis_prefix}:",
            # kombu's Redis transport polls a worker's queues with one BRPOP over all of them; by
            # default it rotates their order after every message (round robin). "priority" keeps
            # the order the worker lists them in (`hyperquest worker` lists lanes highest first),
            # so a player's epoch is taken before any waiting baseline (tests/test_lanes_celery.py).
            "queue_order_strategy": "priority",
            # Longer than any job: Redis redelivers an unacknowledged one only after this. The web
            # app's reconciler re-sends a dead worker's job much sooner (stale_after_seconds).
            "visibility_timeout": max(3600, settings.task_time_limit * 2),
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
        },
        # A pool process warms up (engine.warmup: a tiny epoch, CUDA's start on a GPU) before it
        # reports ready; Celery's default 4 s would count a slow start as a failed one.
        worker_proc_alive_timeout=120,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    celery.hyperquest_settings = settings
    return celery
