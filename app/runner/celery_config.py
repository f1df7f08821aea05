"""How the scaled-out mode's Celery is configured: task names, queues and delivery rules.

It lives on the app side because the web process sends tasks by name with ``make_celery``;
workers (the ``worker`` package, which depends on ``app``, never the other way round) load
the instance in ``worker.celery_app``, which registers the tasks of ``worker.tasks``.
"""

from __future__ import annotations

from celery import Celery

from app.settings import Settings

#: Task names: the contract between the web app (which sends) and workers (which run).
TRAIN_EPOCH = "hyperquest.train_epoch"
COMPUTE_BASELINE = "hyperquest.compute_baseline"
COMPUTE_BRANCH = "hyperquest.compute_branch"


def queue_names(settings: Settings) -> dict[str, str]:
    """Queue of each kind of job; prefixed so deployments (and tests) sharing a Redis stay apart."""
    return {"epochs": f"{settings.redis_prefix}.epochs", "baselines": f"{settings.redis_prefix}.baselines"}


#: Environment variable through which `hyperquest worker` tells its pool processes their worker's own queue.
OWN_QUEUE_ENV = "HYPERQUEST_OWN_QUEUE"


def own_queue(settings: Settings, worker_name: str) -> str:
    """The epoch queue only this worker takes: a run's next epoch goes there while the worker lives."""
    return f"{settings.redis_prefix}.epochs.{worker_name}"


def alive_key(settings: Settings, queue: str) -> str:
    """Redis key a worker keeps set (with a time-to-live) while it serves ``queue``."""
    return f"{settings.redis_prefix}:alive:{queue}"


def make_celery(settings: Settings) -> Celery:
    """A Celery app whose delivery rules make an epoch survive a dying worker without running twice."""
    if not settings.redis_url:
        raise ValueError("the scaled-out mode needs HYPERQUEST_REDIS_URL")
    queues = queue_names(settings)
    celery = Celery("hyperquest", broker=settings.redis_url)
    celery.conf.update(
        # An epoch is acknowledged only once it has finished, and a worker takes one at a time, so
        # a killed worker's epoch goes back to the queue rather than vanishing with it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in the database, not in Redis
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        # Branches are background work like baselines: they never hold up a player's epoch.
        task_routes={TRAIN_EPOCH: {"queue": queues["epochs"]}, COMPUTE_BASELINE: {"queue": queues["baselines"]},
                     COMPUTE_BRANCH: {"queue": queues["baselines"]}},
        task_default_queue=queues["epochs"],
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "global_keyprefix": f"{settings.redis_prefix}:",
            # Longer than any epoch: Redis redelivers an unacknowledged epoch only after this. The
            # web app's reconciler re-sends a dead worker's epoch much sooner (stale_after_seconds).
            "visibility_timeout": max(3600, settings.task_time_limit * 2),
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    celery.hyperquest_settings = settings
    return celery

