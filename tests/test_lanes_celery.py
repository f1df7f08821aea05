"""Scaled out, one broker queue per lane: a worker takes its queues in priority order (kombu's "priority"
queue order), so a player's epoch waiting in Redis goes before any baseline, whatever was sent first."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.datasets.models import BASELINES_JOB, REFERENCES_JOB
from app.db import migrate
from app.db.session import make_engine, make_session_factory
from app.debrief.models import BRANCH_JOB
from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import make_celery
from app.jobs.models import Job
from app.jobs.queue import enqueue
from app.jobs.runners.celery_dispatch import send_jobs
from bench.processes import hyperquest_env, start_worker
from app.runs.models import EPOCH_JOB
from app.settings import Settings
from tests.services import REDIS_URL, delete_prefix, redis_available, wait_for
from tests.webutil import postgres_available, postgres_database

#: The test starts a `hyperquest worker` (Celery) process.
pytestmark = pytest.mark.processes

#: Sent lowest lane first, twice over: without a priority order the worker would take them as sent.
SENT = [REFERENCES_JOB, BASELINES_JOB, BRANCH_JOB, EPOCH_JOB] * 2


@pytest.fixture(autouse=True)
def services_up():
    if not (postgres_available() and redis_available()):
        pytest.fail("PostgreSQL and Redis must be up (.ci/run starts them)")


def test_a_worker_takes_its_lanes_in_priority_order_not_in_the_order_sent():
    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    with postgres_database() as url:
        migrate.upgrade(url)
        values = {"database_url": url, "redis_url": REDIS_URL, "redis_prefix": prefix, "dataset_size": "tiny",
                  "device": "cpu", "secret_key": "test-secret-key", "reconcile_every_seconds": 600}
        settings = Settings(**values)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            with factory() as db:
                # Subjects that do not exist: each job finishes at once, so only the order is measured.
                ids = [enqueue(db, kind, 1_000 + i).id for i, kind in enumerate(SENT)]
                db.commit()
            celery = make_celery(settings)
            for job_id in ids:  # one by one, in the order above, while no worker listens
                send_jobs(celery, factory, settings, [job_id], BrokerSignals(settings))
            worker = start_worker(hyperquest_env(**values))  # one pool process: one job at a time
            try:
                wait_for(lambda: _done(factory) == len(ids), 120, "every job", [worker])
            finally:
                worker.stop()
            with factory() as db:
                ran = [job.kind for job in db.scalars(select(Job).order_by(Job.started_at, Job.id))]
            assert ran == [EPOCH_JOB] * 2 + [BRANCH_JOB] * 2 + [BASELINES_JOB] * 2 + [REFERENCES_JOB] * 2
        finally:
            engine.dispose()
            delete_prefix(REDIS_URL, prefix)


def _done(factory) -> int:
    with factory() as db:
        return sum(1 for status in db.scalars(select(Job.status)) if status == "done")


def test_only_a_players_epoch_is_sent_with_a_time_limit():
    """Lower lanes run higher lanes' jobs nested inside their task: a limit on them would fail the nested job."""
    import json

    import redis

    from app.jobs.celery_config import lane_queue
    from app.jobs.lanes import DEBRIEF, PLAYERS, POOL

    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    with postgres_database() as url:
        migrate.upgrade(url)
        settings = Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix, dataset_size="tiny", device="cpu",
                            secret_key="test-secret-key", task_soft_time_limit=70, task_time_limit=90)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        try:
            with factory() as db:
                ids = [enqueue(db, kind, 2_000 + i).id for i, kind in enumerate((EPOCH_JOB, BRANCH_JOB, BASELINES_JOB))]
                db.commit()
            celery = make_celery(settings)
            # No limit for every task either: a worker applies the app's own to messages that carry none.
            assert celery.conf.task_time_limit is None and celery.conf.task_soft_time_limit is None
            send_jobs(celery, factory, settings, ids, BrokerSignals(settings))
            broker = redis.Redis.from_url(REDIS_URL)
            limits = {}
            for lane in (PLAYERS, DEBRIEF, POOL):
                (message,) = broker.lrange(f"{prefix}:{lane_queue(settings, lane)}", 0, -1)
                limits[lane] = json.loads(message)["headers"]["timelimit"]
            assert limits == {PLAYERS: [90, 70], DEBRIEF: [None, None], POOL: [None, None]}
        finally:
            engine.dispose()
            delete_prefix(REDIS_URL, prefix)
