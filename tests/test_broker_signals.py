"""Scaled-out workers' signals in Redis (app.jobs.broker_signals): a busy worker learns of a player's epoch at
its next yield point, and a run's next epoch goes to its worker only while that worker has an idle process."""

from __future__ import annotations

import dataclasses
import socket
import time
import uuid

import pytest
from sqlalchemy import select

from app.datasets.models import BASELINES_JOB
from app.db import migrate
from app.db.session import make_engine, make_session_factory
from app.jobs import broker_signals, lease, registry
from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import alive_key
from app.jobs.context import JobContext
from app.jobs.executor import YIELD_LOOK_SECONDS, Executor
from app.jobs.keeper import LeaseKeeper
from app.jobs.lanes import DEBRIEF, PLAYERS, POOL, TRAINING_LANES
from app.jobs.lease import holder_id
from app.jobs.models import Job
from app.jobs.queue import enqueue
from app.runs.models import EPOCH_JOB
from app.settings import Settings
from tests.services import REDIS_URL, delete_prefix, redis_available

QUEUE = "players.worker@host"


@pytest.fixture(autouse=True)
def redis_up():
    if not redis_available():
        pytest.fail("Redis must be up (.ci/run starts it)")


@pytest.fixture
def settings(tmp_path):
    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    url = f"sqlite:///{tmp_path}/signals.sqlite3"
    migrate.upgrade(url)
    yield Settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix, dataset_size="tiny",
                   secret_key="test-secret-key", task_time_limit=60)
    delete_prefix(REDIS_URL, prefix)


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _worker_alive(signals: BrokerSignals, processes: int) -> None:
    """As `hyperquest worker --processes N` keeps its own queue's alive key."""
    signals._redis.set(alive_key(signals.settings, QUEUE), str(processes), px=10_000)


def test_a_worker_is_available_while_it_lives_and_has_a_process_not_running_a_job(settings):
    signals = BrokerSignals(settings)
    assert not signals.available(QUEUE) and not signals.alive(QUEUE)  # no such worker
    _worker_alive(signals, processes=2)
    assert signals.alive(QUEUE) and signals.available(QUEUE)
    signals.working(QUEUE, "host:1:celery", True)
    assert signals.available(QUEUE)  # one of two processes is idle
    signals.working(QUEUE, "host:2:celery", True)
    assert not signals.available(QUEUE)
    signals.working(QUEUE, "host:1:celery", False)
    assert signals.available(QUEUE)


def test_a_process_that_died_mid_job_stops_counting_once_its_replacement_starts(settings):
    signals = BrokerSignals(settings)
    _worker_alive(signals, processes=1)
    dead = f"{socket.gethostname()}:{2**22 + 1}:celery"  # no process of this host has it (above any pid_max)
    signals.working(QUEUE, dead, True)  # and it never says it stopped (killed)
    signals.working(QUEUE, holder_id("other"), True)  # a live process of this host: still counted
    signals.working(QUEUE, "elsewhere:1:celery", False)
    assert not signals.available(QUEUE)
    signals.forget_dead(QUEUE)
    assert not signals.available(QUEUE)  # the live one still runs its job
    signals.working(QUEUE, holder_id("other"), False)
    assert signals.available(QUEUE)


def test_new_work_changes_the_generation_of_its_lane_only(settings):
    signals = BrokerSignals(settings)
    players, pool = signals.generation([PLAYERS, DEBRIEF]), signals.generation([POOL])
    signals.announce([PLAYERS, PLAYERS])
    assert signals.generation([PLAYERS, DEBRIEF]) != players
    assert signals.generation([POOL]) == pool


def test_redis_away_means_no_worker_available_and_no_generation():
    settings = Settings(database_url="sqlite://", redis_url="redis://127.0.0.1:1/0", secret_key="test-secret-key")
    signals = BrokerSignals(settings)
    signals.announce([PLAYERS])  # logged, never raised: the broker's queues still deliver the work
    signals.working(QUEUE, "host:1:celery", True)
    assert signals.generation([PLAYERS]) == 0 and not signals.available(QUEUE) and not signals.alive(QUEUE)


def _executor(sessions, settings, lanes=TRAINING_LANES, served_by=None) -> Executor:
    return Executor(sessions, settings, "cpu", lanes, holder_id("signals"), LeaseKeeper(sessions, 1.0),
                    served_by=served_by, broker=BrokerSignals(settings))


def _pending_epoch(sessions, subject_id: int) -> int:
    with sessions() as db:
        job_id = enqueue(db, EPOCH_JOB, subject_id).id  # no such action: the job returns at once
        db.commit()
    return job_id


def _status(sessions, job_id: int) -> str:
    with sessions() as db:
        return db.scalar(select(Job.status).where(Job.id == job_id))


def test_pool_work_takes_an_announced_players_epoch_at_its_next_yield_point_not_at_its_next_poll(sessions, settings):
    executor = _executor(sessions, settings)
    pool_job = JobContext(executor, 0, POOL)
    executor.yield_point(pool_job)  # the first look: nothing waits
    first = _pending_epoch(sessions, 900_001)
    executor.yield_point(pool_job)
    assert _status(sessions, first) == "pending"  # not announced, and the last look was a moment ago
    BrokerSignals(settings).announce([PLAYERS])  # as the dispatcher does once it sent the job
    time.sleep(broker_signals.LOOK_SECONDS * 1.5)
    started = time.monotonic()
    executor.yield_point(pool_job)
    assert _status(sessions, first) == "done"
    assert time.monotonic() - started < YIELD_LOOK_SECONDS


def test_a_worker_says_it_runs_a_job_while_it_does_and_is_free_again_before_its_outcome_is_stored(
        sessions, settings, monkeypatch):
    signals = BrokerSignals(settings)
    _worker_alive(signals, processes=1)
    executor = _executor(sessions, settings, served_by=QUEUE)
    seen = {}

    def epoch(ctx, subject_id):
        seen["epoch"] = signals.available(QUEUE)

    def baselines(ctx, subject_id):
        seen["pool, before"] = signals.available(QUEUE)
        ctx.yield_point()  # runs the waiting player's epoch, nested
        seen["pool, after"] = signals.available(QUEUE)

    real_finish = lease.finish

    def finish(db, job_id, holder):
        seen.setdefault("finishing", []).append(signals.available(QUEUE))
        return real_finish(db, job_id, holder)

    monkeypatch.setattr(lease, "finish", finish)
    monkeypatch.setitem(registry.KINDS, EPOCH_JOB, dataclasses.replace(registry.kind(EPOCH_JOB), run=epoch))
    monkeypatch.setitem(registry.KINDS, BASELINES_JOB,
                        dataclasses.replace(registry.kind(BASELINES_JOB), run=baselines))
    with sessions() as db:
        enqueue(db, BASELINES_JOB, 900_002)
        db.commit()
    epoch_id = _pending_epoch(sessions, 900_003)
    assert executor.run_next([POOL])  # the pool job, whose first yield point runs the player's epoch
    # Busy throughout the pool job (the nested epoch included), idle once its work is done.
    assert seen == {"pool, before": False, "epoch": False, "pool, after": False, "finishing": [False, True]}
    assert _status(sessions, epoch_id) == "done"
    assert signals.available(QUEUE)
