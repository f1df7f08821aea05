"""Preparing a class's pool before class: `hyperquest pool prepare`/`status`, shared baseline jobs, live readiness."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import func, select, update

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.datasets.models import BASELINES_JOB, REFERENCES_JOB, DatasetRecord
from app.datasets.service import PoolReadiness, get_or_create
from app.db import migrate
from app.db.base import utcnow
from app.db.session import make_engine, make_session_factory
from app.errors import JobCancelled
from app.jobs import lease
from app.jobs.models import Job
from bench.processes import ROOT, hyperquest_env, start_worker
from app.runs.models import Run
from app.settings import Settings
from tests.services import REDIS_URL, delete_prefix, redis_available
from tests.support.jobs import job_of, test_executor
from tests.support.players import ready_player, staff_login
from tests.webutil import game, postgres_available, postgres_database

POOL = {"dataset_size": "tiny", "baseline_epochs": "1", "pool_size": "2", "device": "cpu", "secret_key": "test-secret-key"}


def hyperquest(*args: str, timeout: float = 300, **settings: str) -> subprocess.CompletedProcess:
    """The real CLI in a child process with these HYPERQUEST_* settings."""
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=hyperquest_env(**settings), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def sessions(url: str):
    migrate.upgrade(url)
    return make_session_factory(make_engine(url))


def record(status: str, done: int = 0, total: int = 0, seconds: float | None = None) -> DatasetRecord:
    return DatasetRecord(family="shapes", seed=1, size="tiny", baseline_status=status, baseline_done=done,
                         baseline_total=total, baseline_seconds=seconds)


# ----------------------------------------------------------------------------- readiness, unit


def test_readiness_counts_epochs_and_estimates_the_time_left():
    pool = PoolReadiness([record("done", 60, 60, 120.0), record("running", 15, 60), record("pending")], 3, 30)
    assert (pool.ready, pool.failed, pool.finished) == (1, 0, False)
    assert pool.epochs == (75, 180)  # a job not started counts with its whole budget (2 x 30 epochs)
    assert pool.eta_seconds == pytest.approx((180 - 75) * 2.0)  # 2 s an epoch, one job running at a time
    finished = PoolReadiness([record("done", 60, 60, 100.0), record("failed", 3, 60)], 2, 30)
    assert finished.finished and finished.epochs == (120, 120) and finished.eta_seconds is None
    assert not PoolReadiness([record("done", 60, 60, 1.0)], 2, 30).finished  # a dataset not even created yet


# ----------------------------------------------------------------------------- one job per dataset


def test_a_baseline_job_is_leased_once_and_taken_over_when_its_holder_dies(tmp_path):
    factory = sessions(f"sqlite:///{tmp_path}/claim.sqlite3")
    settings = Settings(database_url=str(factory.kw["bind"].url), baseline_epochs=1, stale_after_seconds=60,
                        secret_key="test-secret-key")
    with factory() as db:
        dataset, _ = get_or_create(db, "clusters", 1, "tiny")  # its baselines job is enqueued with it
        db.commit()
        job_id = job_of(db, BASELINES_JOB, dataset.id).id
        assert lease.claim(db, job_id, "elsewhere:1:prepare", 60)  # as if another machine's `pool prepare` had it
        db.commit()
        assert not lease.claim(db, job_id, "here:2:server", 60)  # a live holder keeps it
    # A runner asked to run it while it is held does nothing (no second bot run).
    assert not test_executor(factory, settings).run_job(job_id)
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(Run)) == 0
        db.execute(update(Job).values(heartbeat_at=utcnow().replace(year=2000)))  # its holder stopped reporting
        db.commit()
    assert test_executor(factory, settings).run_job(job_id)  # taken over
    with factory() as db:
        done = db.get(DatasetRecord, dataset.id)
        assert done.baseline_status == "done" and done.baseline_done == done.baseline_total == 2
        assert done.baseline_seconds > 0 and 0 < done.baseline_default <= 1
        assert db.scalar(select(func.count()).select_from(Run)) == 1
        job = db.get(Job, job_id)
        assert (job.status, job.attempts) == ("done", 2)
        references = job_of(db, REFERENCES_JOB, dataset.id)  # enqueued with the baselines, in a lower lane
        assert references.status == "pending" and references.lane == "background"
    assert not test_executor(factory, settings).run_job(job_id)  # done: nothing happens again
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(Run)) == 1


def test_an_interrupted_job_gives_its_dataset_back(tmp_path):
    factory = sessions(f"sqlite:///{tmp_path}/cancel.sqlite3")
    settings = Settings(database_url=str(factory.kw["bind"].url), baseline_epochs=1, secret_key="test-secret-key")
    with factory() as db:
        dataset, _ = get_or_create(db, "clusters", 1, "tiny")
        db.commit()
        job_id = job_of(db, BASELINES_JOB, dataset.id).id
    executor = test_executor(factory, settings)
    executor.stopping.set()  # the runner stops: the job ends at its first yield point
    with pytest.raises(JobCancelled):
        executor.run_job(job_id)
    with factory() as db:
        assert db.get(DatasetRecord, dataset.id).baseline_status == "pending"
        job = db.get(Job, job_id)
        assert (job.status, job.attempts, job.leased_by) == ("pending", 0, None)  # a clean stop is no attempt


# ----------------------------------------------------------------------------- the command


@pytest.mark.parametrize("args, expected", [
    (["--families", "nosuch"], "unknown dataset families ['nosuch']; choose from clusters, shapes, textures"),
    (["--families", "teacher"], "teacher is not offered to classes"),
    (["--size", "huge"], "unknown dataset size 'huge'; choose from full, small, tiny"),
    (["--jobs", "0"], "--jobs must be between 1 and 256, got 0"),
])
@pytest.mark.processes
def test_bad_flags_are_one_line_and_a_non_zero_exit(tmp_path, args, expected):
    result = hyperquest("pool", "prepare", *args, database_url=f"sqlite:///{tmp_path}/bad.sqlite3")
    assert expected in one_line_error(result)


@pytest.mark.processes
def test_no_database_is_one_line_and_a_non_zero_exit():
    result = hyperquest("pool", "prepare", database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    assert "cannot reach the database" in one_line_error(result)


@pytest.mark.processes
def test_prepare_in_embedded_mode_makes_every_pool_dataset_playable(tmp_path):
    url = f"sqlite:///{tmp_path}/embedded.sqlite3"
    result = hyperquest("pool", "prepare", "--jobs", "2", database_url=url, **POOL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 of 2 datasets playable" in result.stdout
    status = hyperquest("pool", "status", "--json", database_url=url, **POOL)
    pool = json.loads(status.stdout)
    assert pool["finished"] and pool["ready"] == 2 and pool["epochs_done"] == pool["epochs_total"] == 4
    assert pool["references_finished"] and pool["references_done"] == 2  # prepared for the debrief too
    assert {d["ref"] for d in pool["datasets"]} == {"clusters:1", "shapes:1"}  # the class's families in turn
    assert all(0 < d["default"] <= 1 and 0 < d["bot"] <= 1 for d in pool["datasets"])
    again = hyperquest("pool", "prepare", database_url=url, **POOL)
    assert again.returncode == 0 and "0 to compute" in again.stdout


@pytest.mark.processes
def test_prepare_scaled_out_sends_the_jobs_to_the_workers():
    assert postgres_available() and redis_available(), "PostgreSQL and Redis must be up (.ci/run starts them)"
    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    with postgres_database() as url:
        settings = dict(POOL, database_url=url, redis_url=REDIS_URL, redis_prefix=prefix)
        workers = [start_worker(hyperquest_env(**settings), "pool,background") for _ in range(2)]
        try:
            result = hyperquest("pool", "prepare", "--families", "clusters,shapes", **settings)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "scaled out: Celery workers" in result.stdout and "2 of 2 datasets playable" in result.stdout
        finally:
            for worker in workers:
                worker.stop()
            delete_prefix(REDIS_URL, prefix)
        factory = make_session_factory(make_engine(url))
        with factory() as db:
            assert db.scalar(select(func.count()).select_from(DatasetRecord)
                             .where(DatasetRecord.baseline_status == "done")) == 2
            bots = db.scalars(select(Run).join(Student, Student.id == Run.student_pk).where(Student.role == "bot")).all()
            assert len(bots) == 2  # one bot run per dataset: no job was computed twice
        factory.kw["bind"].dispose()


# ----------------------------------------------------------------------------- the dashboard


def test_the_dashboard_shows_the_pool_getting_ready_live(tmp_path):
    url = f"sqlite:///{tmp_path}/dashboard.sqlite3"
    with game(url, pool_size=2, baseline_epochs=1) as player:
        staff_login(player, "prof", "instructor")
        page = player.client.get("/instructor").text
        assert 'id="pool-progress"' in page and "datasets playable" in page
        # The stream sends the pool as it changes and ends once every dataset is ready.
        events = []
        with player.client.stream("GET", "/instructor/pool/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))
        assert events[-1]["finished"] and events[-1]["ready"] == 2
        assert events[-1]["epochs_done"] == events[-1]["epochs_total"] == 4
        assert all(e["ready"] <= 2 for e in events)
        pool = player.client.get("/instructor/pool.json").json()
        assert pool == events[-1]
        assert "2 of 2</strong> datasets playable" in player.client.get("/instructor").text
        # Students have no access.
        player.client.post("/staff/logout")
        assert player.client.get("/instructor/pool.json", follow_redirects=False).status_code in (303, 401, 403)
        assert player.client.get("/instructor/pool/events", follow_redirects=False).status_code in (303, 401, 403)


def test_the_server_waits_for_a_prepare_that_holds_a_job_then_takes_it_over(tmp_path):
    url = f"sqlite:///{tmp_path}/takeover.sqlite3"
    factory = sessions(url)
    with factory() as db:
        db.add(ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=["clusters"], reveal_test_accuracy=False))
        dataset, _ = get_or_create(db, "clusters", 1, "tiny")
        db.commit()
        # As if `pool prepare` on another machine had it and then died.
        assert lease.claim(db, job_of(db, BASELINES_JOB, dataset.id).id, "elsewhere:1:prepare", 60)
        db.commit()
    with game(url, pool_size=1, baseline_epochs=1, stale_after_seconds=2) as player:
        ready_player(player)
        player.start(timeout=60)  # became ready: the server took the job over once the heartbeat was stale
    with factory() as db:
        assert db.get(DatasetRecord, dataset.id).baseline_status == "done"
