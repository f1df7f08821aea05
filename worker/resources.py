"""What a worker process needs to run jobs, created once per process on first use."""

from __future__ import annotations

import dataclasses
import functools
import os

from sqlalchemy.orm import sessionmaker

from app.db.session import make_engine, make_session_factory
from app.runner.nudges import NudgePublisher
from app.runner.priority import prepare_training
from app.settings import Settings, load_settings
from engine.devices import resolve_device
from app.runner.celery_config import OWN_QUEUE_ENV


@dataclasses.dataclass(frozen=True)
class WorkerResources:
    """Settings, database sessions, the training device and the progress publisher of one process."""

    settings: Settings
    session_factory: sessionmaker
    device: str
    publisher: NudgePublisher
    #: This worker's own epoch queue (None for a worker started without one, e.g. `celery -A` by hand).
    own_queue: str | None

    def nudge(self, run_id: int, done: int, total: int) -> None:
        """Progress callback of the job function: tell the web app's live pages to look again."""
        self.publisher.publish(run_id, done, total)


@functools.lru_cache(maxsize=1)
def worker_resources() -> WorkerResources:
    """This process's resources; the device is resolved here, in the process that trains."""
    settings = load_settings()
    prepare_training(settings)  # tasks run on this thread (prefork child)
    return WorkerResources(
        settings=settings,
        session_factory=make_session_factory(make_engine(settings.database_url)),
        device=resolve_device(settings.device),
        publisher=NudgePublisher(settings.redis_url, settings.redis_prefix),
        own_queue=os.environ.get(OWN_QUEUE_ENV) or None,
    )
