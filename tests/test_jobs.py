"""The one job model (app.jobs) on SQLite and PostgreSQL: enqueued with the caller's transaction, leased in
priority order, retried after transient failures, visible and retryable once it gives up, taken over when
its holder dies: the same for every kind."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from app.classroom.models import ClassSettings
from app.datasets.models import BASELINES_JOB, REFERENCES_JOB, DatasetRecord
from app.datasets.service import get_or_create
from app.db import migrate
from app.db.base import utcnow
from app.db.session import make_engine, make_session_factory
from app.debrief.models import BRANCH_JOB
from app.grades.models import GRADE_POST_JOB
from app.jobs import lease, registry
from app.jobs.context import JobContext
from app.jobs.executor import Executor
from app.jobs.keeper import LeaseKeeper
from app.jobs.lease import holder_id
from app.jobs.lanes import BACKGROUND, DEBRIEF, LANES, PLAYERS, POOL, PRIORITY, TRAINING_LANES
from app.jobs.models import Job
from app.jobs.queue import enqueue, on_new_work
from app.jobs.runners.embedded import _thread_context
from app.jobs.signals import Signals
from app.runs import epoch_job
from app.runs.models import EPOCH_JOB, TEST_ACCURACY_JOB, ActionRecord
from app.settings import Settings
from engine.rng import DEFAULT_GENERATOR
from tests.services import wait_for
from tests.support.jobs import finished_epoch_job, job_of, test_executor
from tests.support.players import ready_player, staff_login
from tests.webutil import game

#: One kind per lane, highest priority first (their subjects need not exist for the order to show).
KIND_PER_LANE = [EPOCH_JOB, BRANCH_JOB, BASELINES_JOB, REFERENCES_JOB]
EVERY_KIND = [EPOCH_JOB, TEST_ACCURACY_JOB, BRANCH_JOB, BASELINES_JOB, REFERENCES_JOB, GRADE_POST_JOB]


@pytest.fixture
def sessions(database_url):
    """A migrated database's session factory."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def settings_for(database_url: str, **overrides) -> Settings:
    values = {"database_url": database_url, "baseline_epochs": 1, "dataset_size": "tiny", "secret_key": "test-secret-key"}
    return Settings(**{**values, **overrides})


# ----------------------------------------------------------------------------- the registry


def test_every_kind_is_declared_once_with_a_lane_a_label_and_a_retry_policy():
    kinds = registry.load_all()
    assert set(kinds) == set(EVERY_KIND)
    for kind in kinds.values():
        assert kind.lane in LANES and kind.label and callable(kind.run)
        assert kind.retry.attempts_limit(settings_for("sqlite://")) >= 1
    assert [kinds[name].lane for name in KIND_PER_LANE] == list(TRAINING_LANES)
    assert kinds[GRADE_POST_JOB].lane == "io" and kinds[GRADE_POST_JOB].retry.max_retries is None  # never given up
    with pytest.raises(ValueError):
        registry.job_kind("nowhere", "no such lane", label="x")


# ----------------------------------------------------------------------------- enqueueing


def test_a_job_exists_exactly_when_its_transaction_commits(sessions):
    announced = []
    stop = on_new_work(sessions, announced.append)
    try:
        with sessions() as db:
            enqueue(db, BASELINES_JOB, 41)
            db.rollback()
        with sessions() as db:
            assert db.scalar(select(func.count()).select_from(Job)) == 0 and announced == []
            job = enqueue(db, BASELINES_JOB, 42)
            again = enqueue(db, BASELINES_JOB, 42)  # a second request asking for the same work adds nothing
            assert again.id == job.id and announced == []  # not before the commit
            db.commit()
        assert announced == [[(job.id, "pool"), (job.id, "pool")]]
        with sessions() as db:
            (stored,) = db.scalars(select(Job))
            assert (stored.kind, stored.subject_id, stored.lane, stored.priority, stored.status) == \
                (BASELINES_JOB, 42, "pool", PRIORITY["pool"], "pending")
    finally:
        stop()


# ----------------------------------------------------------------------------- priorities


def test_an_executor_takes_the_lanes_in_priority_order(sessions, database_url):
    with sessions() as db:
        for kind in reversed(KIND_PER_LANE):  # the lowest lane enqueued first
            enqueue(db, kind, 10_000)  # subjects that do not exist: each job returns at once
        db.commit()
    executor = test_executor(sessions, settings_for(database_url))
    while executor.run_next():
        pass
    with sessions() as db:
        ran = list(db.scalars(select(Job).order_by(Job.started_at, Job.id)))
    assert [job.kind for job in ran] == KIND_PER_LANE
    assert all(job.status == "done" and job.attempts == 1 for job in ran)


def test_pool_work_yields_to_a_players_epoch_and_pauses_while_it_trains(tmp_path):
    """One executor: the second dataset's baselines are computing when the player's epoch arrives; it runs first."""
    url = f"sqlite:///{tmp_path}/yield.sqlite3"
    with game(url, pool_size=2, baseline_epochs=20, training_processes=1) as player:
        ready_player(player)
        run_id = player.start()  # the first dataset is playable; the second one's baselines are being computed
        with player.app.state.session_factory() as db:
            baselines = db.scalars(select(Job).where(Job.kind == BASELINES_JOB).order_by(Job.id)).all()
            assert baselines[1].status in ("pending", "running")
        wait_for(lambda: _status(player, BASELINES_JOB, baselines[1].subject_id) == "running", 60,
                 "the second dataset's baselines to be under way", [])
        player.configure(run_id)
        player.wait_ready(run_id)
        epoch = finished_epoch_job(player.app.state.session_factory, run_id)
        with player.app.state.session_factory() as db:
            pool_job = db.get(Job, baselines[1].id)
        # The epoch ran inside the pool job (nested, at one of its yield points), not after it.
        assert pool_job.status == "running" or epoch.finished_at < pool_job.finished_at
        assert epoch.attempts == 1 and epoch.retries == 0


@pytest.mark.parametrize("lane, pauses", [(DEBRIEF, False), (POOL, True), (BACKGROUND, True)])
def test_only_work_nobody_waits_for_pauses_while_a_players_epoch_computes(sessions, database_url, lane, pauses):
    """Two executors' CPU budget: the other one computes a player's epoch while this one reaches a yield point."""
    import torch

    threads_before = torch.get_num_threads()
    signals = Signals(_thread_context(), slots=2, cores=2)
    executor = Executor(sessions, settings_for(database_url), "cpu", TRAINING_LANES, holder_id("budget"),
                        LeaseKeeper(sessions, 1.0), signals=signals, slot=0)
    signals.set_busy(0, lane)  # as running a job of ``lane`` does
    signals.set_busy(1, PLAYERS)
    shares = []
    waiting = threading.Thread(target=lambda: (executor.yield_point(JobContext(executor, 0, lane)),
                                               shares.append(signals.threads_for_one_job())), daemon=True)
    try:
        waiting.start()
        # The debrief goes on beside the player's epoch, one core each; pool and background work wait
        # (still waiting a second later), leaving both cores to the player's epoch.
        waiting.join(1.0 if pauses else 10)
        assert waiting.is_alive() is pauses
        assert signals.threads_for_one_job() == (2 if pauses else 1)
        signals.clear(1)  # the player's epoch is over
        waiting.join(10)
        assert not waiting.is_alive() and shares == [2 if pauses else 1]
    finally:
        signals.clear(1)
        torch.set_num_threads(threads_before)


def _status(player, kind: str, subject_id: int) -> str | None:
    with player.app.state.session_factory() as db:
        job = job_of(db, kind, subject_id)
        return job.status if job else None


# ----------------------------------------------------------------------------- failures


def test_a_transient_database_error_is_retried_and_never_fails_the_players_action(database_url, monkeypatch):
    with game(database_url) as player:
        ready_player(player)
        run_id = player.start()
        real = epoch_job._record_epoch
        calls = []

        def busy_once(session_factory, action_id, *args, **kwargs):
            with session_factory() as db:  # the pool's automatic players may still be training: not theirs
                players = db.get(ActionRecord, action_id).run_id == run_id
            if players:
                calls.append(action_id)
                if len(calls) == 1:
                    raise OperationalError("UPDATE runs ...", {}, Exception("database is locked"))
            return real(session_factory, action_id, *args, **kwargs)

        monkeypatch.setattr(epoch_job, "_record_epoch", busy_once)
        player.configure(run_id)
        run = player.wait_ready(run_id)
        assert run.status == "ready" and run.epoch == 1 and len(calls) == 2
        job = finished_epoch_job(player.app.state.session_factory, run_id)
        with player.app.state.session_factory() as db:
            action = db.scalar(select(ActionRecord).where(ActionRecord.run_id == run_id))
        assert (job.status, job.attempts, job.retries) == ("done", 1, 1)  # a retry is not a crash
        assert "database is locked" in job.last_error  # kept, for the record
        assert action.status == "done"


def test_a_job_that_gives_up_is_shown_and_an_instructor_retries_it(database_url, monkeypatch):
    from app.datasets import jobs as dataset_jobs

    def broken(*_args, **_kwargs):
        raise ValueError("the generator produced no examples")

    monkeypatch.setattr(dataset_jobs, "linear_classifier_score", broken)
    with game(database_url, pool_size=1, baseline_epochs=1) as player:
        with player.app.state.session_factory() as db:
            dataset_id = db.scalar(select(DatasetRecord.id))
        wait_for(lambda: _status(player, BASELINES_JOB, dataset_id) == "failed", 60, "the baselines to give up", [])
        with player.app.state.session_factory() as db:
            dataset = db.get(DatasetRecord, dataset_id)
            job = job_of(db, BASELINES_JOB, dataset_id)
        assert dataset.baseline_status == "failed" and "no examples" in dataset.baseline_error
        assert job.attempts == 1 and "ValueError: the generator produced no examples" in job.last_error
        staff_login(player, "prof", "instructor")
        page = player.client.get("/instructor").text
        assert "Jobs that gave up" in page and "the generator produced no examples" in page
        assert f'/instructor/jobs/{job.id}/retry' in page
        assert player.client.get("/instructor/jobs.json").json()["failed"][0]["id"] == job.id

        monkeypatch.undo()
        response = player.client.post(f"/instructor/jobs/{job.id}/retry", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith("#jobs")
        assert player.client.post(f"/instructor/jobs/{job.id}/retry").status_code == 409  # no longer failed
        assert player.client.post("/instructor/jobs/999999/retry").status_code == 404
        wait_for(lambda: _status(player, BASELINES_JOB, dataset_id) == "done", 60, "the retried baselines", [])
        with player.app.state.session_factory() as db:
            assert db.get(DatasetRecord, dataset_id).baseline_status == "done"
        assert "Jobs that gave up" not in player.client.get("/instructor").text
        player.client.post("/staff/logout")
        assert player.client.post(f"/instructor/jobs/{job.id}/retry", follow_redirects=False).status_code in (303, 401, 403)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_every_kind_is_taken_over_once_its_holder_stops_reporting(sessions, database_url, kind):
    settings = settings_for(database_url, stale_after_seconds=5)
    with sessions() as db:
        job = enqueue(db, kind, 10_000)
        db.commit()
        assert lease.claim(db, job.id, "elsewhere:1:slot", 5)  # a worker on another machine took it...
        db.commit()
    assert not test_executor(sessions, settings).run_job(job.id)  # ...and while it reports, nobody else runs it
    with sessions() as db:
        db.execute(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - dt.timedelta(seconds=60)))
        db.commit()
    assert test_executor(sessions, settings).run_job(job.id)  # it stopped reporting: taken over
    with sessions() as db:
        taken = db.get(Job, job.id)
        assert (taken.status, taken.attempts) == ("done", 2)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_dead_local_process_s_jobs_are_pending_again_at_once(sessions, kind):
    with sessions() as db:
        job = enqueue(db, kind, 10_000)
        db.commit()
        assert lease.claim(db, job.id, f"{socket.gethostname()}:2147483646:slot", 60)  # a pid that cannot be running
        db.commit()
        assert lease.requeue_dead(db, lease.process_is_dead) == [job.id]
        db.commit()
        assert db.get(Job, job.id).status == "pending"


# ----------------------------------------------------------------------------- no lock clash


def test_no_transaction_is_held_while_a_first_epoch_waits_for_the_generator_lock(tmp_path):
    """Another thread holds engine.rng's lock (a seeded build); the epoch job must not sit on SQLite's write lock meanwhile."""
    url = f"sqlite:///{tmp_path}/locks.sqlite3"
    with game(url, pool_size=1, baseline_epochs=1) as player:
        ready_player(player)
        run_id = player.start()
        released = threading.Event()
        with DEFAULT_GENERATOR:
            player.configure(run_id)
            wait_for(lambda: player.run(run_id).status == "training", 30, "the epoch job to start", [])
            # While the job waits to build checkpoint 0, a writer gets the database at once.
            writer = make_engine(url)
            try:
                with writer.connect() as connection:
                    connection.exec_driver_sql("PRAGMA busy_timeout = 200")
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    connection.execute(update(ClassSettings).values(pool_size=1))
                    connection.exec_driver_sql("COMMIT")
            finally:
                writer.dispose()
            released.set()
        run = player.wait_ready(run_id)
        assert released.is_set() and run.epoch == 1


def test_sqlite_connections_of_a_job_runner_never_report_locked_under_concurrent_writers(tmp_path):
    """Several executors and a writer hammering the database: every job finishes, none fails or retries."""
    url = f"sqlite:///{tmp_path}/busy.sqlite3"
    migrate.upgrade(url)
    factory = make_session_factory(make_engine(url))
    with factory() as db:
        db.add(ClassSettings(id=1, class_code=None, pool_size=2, allowed_families=["clusters"], reveal_test_accuracy=False))
        for seed in (1, 2):
            get_or_create(db, "clusters", seed, "tiny")
        db.commit()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            with factory() as db:
                db.execute(text("UPDATE class_settings SET pool_size = pool_size WHERE id = 1"))
                db.commit()
            time.sleep(0.005)

    writer = threading.Thread(target=hammer, daemon=True)
    writer.start()
    try:
        with game(url, pool_size=2, baseline_epochs=2, stale_after_seconds=5):
            wait_for(lambda: _all(factory, ("done",)), 180, "every job", [])
    finally:
        stop.set()
        writer.join(10)
    with factory() as db:
        jobs = db.scalars(select(Job)).all()
        assert {job.kind for job in jobs} == {BASELINES_JOB, REFERENCES_JOB}
        assert all(job.retries == 0 and job.attempts == 1 and job.last_error is None for job in jobs)


def _all(factory, statuses) -> bool:
    with factory() as db:
        jobs = db.scalars(select(Job)).all()
        return len(jobs) == 4 and all(job.status in statuses for job in jobs)
