"""The scaled-out mode on real services: `hyperquest serve` and `hyperquest worker` processes,
this machine's PostgreSQL and Redis (and a private redis-server where a test restarts it)."""

from __future__ import annotations

import concurrent.futures
import threading
import time

import httpx
import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import sessionmaker

from app.classroom.models import ClassSettings
from app.db import migrate
from app.jobs import lease
from app.jobs.broker_signals import BrokerSignals
from app.jobs.celery_config import RUN_JOB, make_celery
from app.jobs.models import Job
from app.runs import service
from app.runs.models import EPOCH_JOB, ActionRecord, EpochRecord, Run
from app.settings import Settings
from tests.services import PrivateRedis, TcpProxy
from tests.support.jobs import epoch_jobs, finished_job_of, job_of, test_executor
from tests.support.stack import Browserless, Stack, stack
from tests.webutil import postgres_database

#: PostgreSQL and Redis must be up (a clear failure, not a skip); every test starts servers and workers.
pytestmark = [pytest.mark.usefixtures("services_up"), pytest.mark.processes]


def test_game_flow_through_celery_and_postgresql():
    with stack() as deployment:
        deployment.start_web()
        worker = deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start()
        assert deployment.wait_ready(run_id).epoch == 1
        # Its pool process trained a tiny epoch as it started, before it took a task (engine.warmup).
        assert "warmed up in" in worker.output
        assert player.act(run_id).status_code == 303
        assert deployment.wait_ready(run_id).epoch == 2
        assert player.act(run_id, width="up").status_code == 303
        run = deployment.wait_ready(run_id)
        assert run.epoch == 3 and run.config["width"] == 64
        assert player.act(run_id, "revert").status_code == 303
        assert deployment.run(run_id).epoch == 2
        page = player.http.get(f"/runs/{run_id}")
        assert page.status_code == 200 and "After training 2 of max 30 epochs" in page.text
        assert player.act(run_id, "done").status_code == 303
        assert deployment.run(run_id).status == "ended"
        assert "Your score" in player.http.get(f"/runs/{run_id}/result").text
        # The dataset's baseline was computed by the worker too.
        deployment.wait(lambda: "computing" not in player.http.get(f"/runs/{run_id}/result").text, 90, "baseline")
        with deployment.db() as db:
            assert all(job.attempts == 1 and job.retries == 0 for job in epoch_jobs(db, run_id))


def test_same_task_delivered_twice_trains_one_epoch():
    with stack() as deployment:
        deployment.start_web()
        deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start()
        deployment.wait_ready(run_id)
        assert player.act(run_id).status_code == 303
        with deployment.db() as db:
            action_id = db.scalar(select(func.max(ActionRecord.id)).where(ActionRecord.run_id == run_id))
            job_id = job_of(db, EPOCH_JOB, action_id).id
        # Two extra deliveries of the very same task while the first is queued or training.
        celery = make_celery(Settings(**{k: v for k, v in deployment.settings.items()}))
        celery.send_task(RUN_JOB, args=[job_id], queue=f"{deployment.settings['redis_prefix']}.players")
        celery.send_task(RUN_JOB, args=[job_id], queue=f"{deployment.settings['redis_prefix']}.players")
        run = deployment.wait_ready(run_id)
        time.sleep(2)  # let the duplicates reach the worker and be ignored
        assert deployment.epochs(action_id=action_id) == 1
        assert deployment.epochs(run_id=run_id) == 2
        assert deployment.run(run_id).epoch == run.epoch == 2


def test_worker_killed_mid_epoch_then_a_new_worker_finishes_it():
    # `small` data and a wide, deep network: an epoch long enough to be killed in the middle.
    with stack(dataset_size="small") as deployment:
        with deployment.db() as db:  # a CNN on images: an MLP epoch would be over before it could be killed
            db.add(ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=["shapes"],
                                 reveal_test_accuracy=False))
            db.commit()
        deployment.start_web()
        worker = deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start(width=128, depth=8, lr=0.01)
        deployment.wait(lambda: (lambda r: r.status == "training" and r.progress_done > 0)(deployment.run(run_id)),
                        120, "the epoch to be in progress")
        worker.kill9()
        with deployment.db() as db:
            action = db.scalar(select(ActionRecord).where(ActionRecord.run_id == run_id))
            job = job_of(db, EPOCH_JOB, action.id)
            assert action.status == "running" and job.status == "running" and job.attempts == 1
        assert deployment.epochs(run_id=run_id) == 0
        deployment.start_worker()
        run = deployment.wait_ready(run_id, timeout=180)
        assert run.status == "ready" and run.epoch == 1
        assert deployment.epochs(run_id=run_id) == 1
        job = finished_job_of(deployment.db, EPOCH_JOB, action.id)  # the run shows the epoch just before
        assert job.attempts == 2  # the dead worker's start counts
        page = player.http.get(f"/runs/{run_id}")
        assert "After training 1 of max 30 epochs" in page.text
        assert len(player.http.get(f"/runs/{run_id}/history.json").json()["epochs"]) == 1


def test_redis_restart_is_survived_without_a_web_restart():
    private = PrivateRedis()
    private.start()
    try:
        with stack(redis_url=private.url) as deployment:
            deployment.start_web()
            worker = deployment.start_worker()
            player = Browserless(deployment)
            run_id = player.start()
            deployment.wait_ready(run_id)

            # 1. A queued epoch is lost with Redis's memory: no worker is listening when it is sent.
            worker.stop()
            assert player.act(run_id).status_code == 303
            with deployment.db() as db:
                deployment.wait(lambda: any(job.dispatched_at is not None and job.status == "pending"
                                            for job in epoch_jobs(db, run_id)), 30, "the epoch to be sent")
            private.stop()

            # 2. While Redis is down the game still answers, with a friendly note instead of a 500.
            page = player.http.get(f"/runs/{run_id}")
            assert page.status_code == 200
            deployment.wait(lambda: "training queue is restarting" in player.http.get(f"/runs/{run_id}").text, 30,
                            "the friendly notice")
            assert player.http.get("/instructions").status_code == 200

            # 3. Redis comes back empty; a new worker starts; the reconciler re-sends the lost epoch.
            private.start()
            deployment.start_worker()
            run = deployment.wait_ready(run_id, timeout=120)
            assert run.epoch == 2 and deployment.epochs(run_id=run_id) == 2
            assert "training queue is restarting" not in player.http.get(f"/runs/{run_id}").text

            # 4. And the next Continue goes through the same web process as if nothing happened.
            assert player.act(run_id).status_code == 303
            assert deployment.wait_ready(run_id).epoch == 3
    finally:
        private.stop()


def test_postgresql_unreachable_gives_503_then_recovers():
    proxy = TcpProxy(5432)
    try:
        with stack(web_via_proxy=proxy) as deployment:
            deployment.start_web()
            deployment.start_worker()
            player = Browserless(deployment)
            run_id = player.start()
            deployment.wait_ready(run_id)
            assert player.http.get("/healthz").json() == {"status": "ok", "mode": "celery", "queue": "ok", "open_streams": 0}
            token = player.http.get("/session/csrf").json()["csrf_token"]
            proxy.cut()
            assert player.http.get("/healthz").status_code == 503
            for path in ("/instructions", f"/runs/{run_id}", "/leaderboard"):
                response = player.http.get(path)
                assert response.status_code == 503, (path, response.status_code)
                assert "try again in a few seconds" in response.text
                assert "Traceback" not in response.text
            assert player.http.post(f"/runs/{run_id}/actions", data={"kind": "continue", "expected_action": "2",
                                                                      "csrf_token": token}).status_code == 503
            time.sleep(3)
            proxy.restore()
            deployment.wait(lambda: player.http.get("/instructions").status_code == 200, 30, "recovery")
            assert player.act(run_id).status_code == 303
            assert deployment.wait_ready(run_id).epoch == 2
    finally:
        proxy.close()


def test_twenty_concurrent_continues_train_exactly_one_epoch():
    with stack() as deployment:
        deployment.start_web()
        deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start()
        deployment.wait_ready(run_id)
        expected = deployment.run(run_id).actions_used + 1
        token = player.http.get("/session/csrf").json()["csrf_token"]
        cookies = dict(player.http.cookies)
        barrier = threading.Barrier(20)

        def post(_):
            with httpx.Client(base_url=deployment.base, cookies=cookies, timeout=60) as client:
                barrier.wait()
                return client.post(f"/runs/{run_id}/actions", data={"kind": "continue", "expected_action": str(expected),
                                                                    "csrf_token": token}).status_code

        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(post, range(20)))
        assert codes.count(303) == 1, (codes, deployment.server.output)
        assert all(code == 409 for code in codes if code != 303), (codes, deployment.server.output)
        run = deployment.wait_ready(run_id)
        time.sleep(1)
        assert run.epoch == 2 and deployment.epochs(run_id=run_id) == 2
        assert deployment.run(run_id).actions_used == expected


def test_an_epoch_that_keeps_killing_its_worker_fails_the_run():
    """The attempt counter: after max_attempts dead starts the run fails with a message."""
    with postgres_database() as url:
        migrate.upgrade(url)
        engine = create_engine(url)
        factory = sessionmaker(engine, expire_on_commit=False)
        from tests.webutil import game
        with game(url) as player:  # an embedded app only to create a configured run quickly
            from tests.support.players import ready_player
            ready_player(player)
            run_id = player.start()
            player.configure(run_id)
            player.wait_ready(run_id)
            player.act(run_id)
            player.wait_ready(run_id)
        with factory() as db:
            action_id = db.scalar(select(func.max(ActionRecord.id)).where(ActionRecord.run_id == run_id))
            job_id = job_of(db, EPOCH_JOB, action_id).id
            # Pretend every start so far died with its worker: running, silent, out of attempts.
            db.execute(update(Job).where(Job.id == job_id).values(
                status="running", attempts=3, leased_by="elsewhere:1:dead", heartbeat_at=service.utcnow().replace(year=2000)))
            db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(status="running"))
            db.execute(update(Run).where(Run.id == run_id).values(status="training"))
            db.execute(EpochRecord.__table__.delete().where(EpochRecord.action_id == action_id))
            db.commit()
        settings = Settings(database_url=url, stale_after_seconds=5, max_attempts=3, secret_key="test-secret-key")
        assert test_executor(factory, settings).run_job(job_id)  # the fourth start gives up instead of training
        with factory() as db:
            run = db.get(Run, run_id)
            assert run.status == "failed" and "stopped 3 times" in run.error and "best network" in run.error
            assert db.get(ActionRecord, action_id).status == "failed"
            job = db.get(Job, job_id)
            assert job.status == "failed" and "stopped 3 times" in job.last_error
            assert db.scalar(select(func.count()).select_from(EpochRecord).where(EpochRecord.action_id == action_id)) == 0
        engine.dispose()


def test_two_workers_claiming_one_action_only_one_wins():
    with postgres_database() as url:
        migrate.upgrade(url)
        engine = create_engine(url, pool_size=10)
        factory = sessionmaker(engine, expire_on_commit=False)
        from tests.webutil import game
        with game(url) as player:
            from tests.support.players import ready_player
            ready_player(player)
            run_id = player.start()
            player.configure(run_id)
            player.wait_ready(run_id)
        with factory() as db:
            action_id = db.scalar(select(func.max(ActionRecord.id)).where(ActionRecord.run_id == run_id))
            job_id = job_of(db, EPOCH_JOB, action_id).id
            db.execute(update(Job).where(Job.id == job_id).values(status="pending", attempts=0))
            db.commit()
        barrier = threading.Barrier(8)

        def claim(worker):
            with factory() as db:
                barrier.wait()
                won = lease.claim(db, job_id, f"host:{worker}:slot", stale_after=60)
                db.commit()
                return won

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(claim, range(8)))
        assert results.count(True) == 1
        with factory() as db:
            assert db.get(Job, job_id).attempts == 1
        engine.dispose()


def _epoch_actions(deployment: Stack, run_id: int) -> list[ActionRecord]:
    with deployment.db() as db:
        return list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id,
                                                          ActionRecord.kind.in_(("initial", "continue")))
                               .order_by(ActionRecord.index)))


def test_a_runs_epochs_stick_to_the_worker_holding_its_data_while_it_lives_and_has_a_process_free():
    with stack(worker_alive_seconds=2) as deployment:
        deployment.start_web()
        workers = [deployment.start_worker(), deployment.start_worker()]
        player = Browserless(deployment)
        run_id = player.start()
        deployment.wait_ready(run_id)
        # Once the pool's work is done, both workers are idle between the player's epochs.
        deployment.wait(lambda: _unfinished_jobs(deployment) == 0, 180, "the pool's baselines and references")
        for _ in range(3):
            assert player.act(run_id).status_code == 303
            deployment.wait_ready(run_id)
        actions = _epoch_actions(deployment, run_id)[1:]
        holder = actions[0].worker_queue
        assert holder is not None and all(a.worker_queue == holder for a in actions)
        with deployment.db() as db:
            jobs = epoch_jobs(db, run_id)
        assert all(job.dispatched_queue == holder for job in jobs[2:])  # sent to that worker's own queue
        # The holder's one process runs another job (as it says in Redis while it does): the next epoch
        # goes to the shared queue, where whichever worker is free first takes it.
        signals = BrokerSignals(Settings(**deployment.settings))
        signals.working(holder, "elsewhere:1:celery", True)
        assert player.act(run_id).status_code == 303
        deployment.wait_ready(run_id)
        signals.working(holder, "elsewhere:1:celery", False)
        with deployment.db() as db:
            assert epoch_jobs(db, run_id)[-1].dispatched_queue is None
        holder = _epoch_actions(deployment, run_id)[-1].worker_queue  # its epochs follow it there
        assert holder is not None
        # The holder dies: the next epoch is trained by the other worker, from the shared queue.
        dead = next(w for w in workers if holder.endswith(_worker_name(w)))
        dead.kill9()
        assert player.act(run_id).status_code == 303
        run = deployment.wait_ready(run_id, timeout=120)
        assert run.epoch == 6
        last = _epoch_actions(deployment, run_id)[-1]
        assert last.worker_queue not in (None, holder)


def _unfinished_jobs(deployment: Stack) -> int:
    with deployment.db() as db:
        return db.scalar(select(func.count()).select_from(Job).where(Job.status.in_(("pending", "running"))))


def _worker_name(worker) -> str:
    """The --name a test worker was started with."""
    args = worker.popen.args
    return args[args.index("--name") + 1]
