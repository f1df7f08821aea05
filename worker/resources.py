"""What a worker process needs to run jobs, created once per process on first use."""

from __future__ import annotations

import dataclasses
import functools
import os

from celery import current_app
from celery.utils.log import get_logger

from app.db.session import make_engine, make_session_factory
from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import LANES_ENV, OWN_QUEUE_ENV
from app.jobs.executor import Executor
from app.jobs.keeper import LeaseKeeper, beat_interval
from app.jobs.lanes import TRAINING_LANES, parse_lanes
from app.jobs.lease import holder_id
from app.jobs.priority import prepare_training, warm_up_training
from app.jobs.queue import on_new_work
from app.jobs.runners.celery_dispatch import send_jobs
from app.live.nudges import NudgePublisher
from app.settings import Settings, load_settings
from engine.devices import resolve_device

log = get_logger(__name__)  # a child of Celery's logger: shown in the worker's log at its --loglevel


@dataclasses.dataclass(frozen=True)
class WorkerResources:
    """Settings, the executor (database, device, lanes) and the progress publisher of one pool process."""

    settings: Settings
    executor: Executor
    publisher: NudgePublisher


@functools.lru_cache(maxsize=1)
def worker_resources() -> WorkerResources:
    """This process's resources; the device is resolved here, in the process that trains."""
    settings = load_settings()
    prepare_training(settings)  # tasks run on this thread (prefork child)
    session_factory = make_session_factory(make_engine(settings.database_url))
    publisher = NudgePublisher(settings.redis_url, settings.redis_prefix)
    keeper = LeaseKeeper(session_factory, beat_interval(settings.stale_after_seconds)).start()
    lanes = parse_lanes(os.environ.get(LANES_ENV) or ",".join(TRAINING_LANES))
    signals = BrokerSignals(settings)
    served_by = os.environ.get(OWN_QUEUE_ENV) or None
    if served_by:
        signals.forget_dead(served_by)  # a process this one replaces may have died mid-job
    executor = Executor(session_factory, settings, resolve_device(settings.device), lanes, holder_id("celery"), keeper,
                        publish=publisher.publish, served_by=served_by, broker=signals)

    # Jobs a job enqueues (an ended run's branches, a dataset's references) go to the broker right
    # after their commit; one lost here is sent by the web app's reconciler.
    on_new_work(session_factory, lambda jobs: send_jobs(current_app, session_factory, settings,
                                                        [job_id for job_id, _ in jobs], signals))
    return WorkerResources(settings, executor, publisher)


def warm_up_process() -> None:
    """Create this pool process's resources and warm it up (app.jobs.priority.warm_up_training).

    A failure is logged, never raised: the process still serves, and its first task tries again.
    """
    try:
        resources = worker_resources()
    except Exception:
        log.exception("could not create the training process's resources")
        return
    warm_up_training(resources.settings, resources.executor.device, log)
