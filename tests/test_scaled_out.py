"""The scaled-out mode on real services: `hyperquest serve` and `hyperquest worker` processes,
this machine's PostgreSQL and Redis (and a private redis-server where a test restarts it)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import re
import threading
import time
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import sessionmaker

from app.classroom.models import ClassSettings
from app.datasets.models import DatasetRecord
from app.db import migrate
from app.runs import epoch_job, service
from app.runs.models import ActionRecord, EpochRecord, Run
from app.settings import Settings
from app.ops.http import GameClient
from app.ops.processes import hyperquest_env, start_server, start_worker
from tests.services import REDIS_URL, PrivateRedis, TcpProxy, delete_prefix, redis_available, wait_for
from tests.webutil import postgres_available, postgres_database
from app.runner.celery_config import TRAIN_EPOCH, make_celery


@pytest.fixture(autouse=True)
def services_up():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    if not redis_available():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")


def stack_settings(database_url: str, redis_url: str, prefix: str, **overrides) -> dict[str, str]:
    """Settings of a test deployment: tiny datasets and fast recovery clocks."""
    values = {
        "database_url": database_url, "redis_url": redis_url, "redis_prefix": prefix, "dataset_size": "tiny",
        "baseline_epochs": 2, "pool_size": 2, "device": "cpu", "secret_key": "test-secret-key",
        "stale_after_seconds": 5, "resend_after_seconds": 4, "reconcile_every_seconds": 0.5,
    }
    values.update(overrides)
    return {k: str(v) for k, v in values.items()}


class Stack:
    """One deployment: a database, a Redis prefix, a web server and workers (started on demand)."""

    def __init__(self, database_url: str, settings: dict[str, str], web_database_url: str | None = None) -> None:
        self.database_url = database_url
        self.settings = settings
        self.env = hyperquest_env(**settings)
        web_settings = dict(settings, database_url=web_database_url or database_url)
        self.web_env = hyperquest_env(**web_settings)
        self.engine = create_engine(database_url, pool_pre_ping=True)
        self.db = sessionmaker(self.engine, expire_on_commit=False)
        self.server = None
        self.base = ""
        self.workers = []

    def start_web(self) -> None:
        self.server, self.base = start_server(self.web_env)

    def start_worker(self, queues: str = "epochs,baselines"):
        worker = start_worker(self.env, queues)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.server:
            self.server.stop()
        self.engine.dispose()

    def run(self, run_id: int) -> Run:
        with self.db() as db:
            return db.get(Run, run_id)

    def epochs(self, **where) -> int:
        with self.db() as db:
            return db.scalar(select(func.count()).select_from(EpochRecord).filter_by(**where))

    def wait(self, predicate, timeout: float = 90, what: str = "condition"):
        return wait_for(predicate, timeout, what, ([self.server] if self.server else []) + self.workers)

    def wait_ready(self, run_id: int, timeout: float = 90) -> Run:
        """The run once its epoch is trained (or, once it has ended, its test accuracy measured)."""
        def ready():
            with self.db() as db:
                run = db.get(Run, run_id)
                return run if not run.busy and not service.awaiting_test_accuracy(db, run) else None
        return self.wait(ready, timeout, f"run {run_id} ready")

    def pool_ready(self) -> bool:
        """True once some pool dataset has all its baselines."""
        with self.db() as db:
            return db.scalar(select(func.count()).select_from(DatasetRecord).where(DatasetRecord.baseline_status == "done")) > 0


@contextlib.contextmanager
def stack(redis_url: str = REDIS_URL, web_via_proxy: TcpProxy | None = None, **overrides):
    prefix = f"hqtest-{uuid.uuid4().hex[:10]}"
    with postgres_database() as url:
        migrate.upgrade(url)
        web_url = url.replace("127.0.0.1:5432", f"127.0.0.1:{web_via_proxy.port}") if web_via_proxy else None
        deployment = Stack(url, stack_settings(url, redis_url, prefix, **overrides), web_url)
        try:
            yield deployment
        finally:
            deployment.close()
            delete_prefix(redis_url, prefix)


class Browserless:
    """A student over real HTTP (cookies kept by httpx)."""

    def __init__(self, stack: Stack, student_id: str = "s1") -> None:
        self.stack = stack
        self.http = GameClient(base_url=stack.base, follow_redirects=False, timeout=30)
        assert self.http.post("/login", data={"student_id": student_id, "name": "Ada Lovelace"}).status_code == 303
        survey = {"education": "Masters student", "experience_years": "Less than 6 months",
                  "self_rating": "Some experience", "network_types": ["Convolutional neural networks"]}
        assert self.http.post("/survey", data=survey).status_code == 303

    def start(self, **choices) -> int:
        deadline = time.monotonic() + 120
        # Wait for a ready dataset in the database rather than by re-posting (a rate-limited action).
        self.stack.wait(self.stack.pool_ready, 120, "a pool dataset to be ready")
        while (response := self.http.post("/runs")).headers["location"] == "/runs/new":
            assert time.monotonic() < deadline, "no pool dataset became ready"
            time.sleep(0.2)  # the pool's baselines are still computing
        run_id = int(re.search(r"/runs/(\d+)/configure", response.headers["location"]).group(1))
        data = {"width": "32", "lr": "0.1", "depth": "2", "dropout": "0"}
        data.update({k: str(v) for k, v in choices.items()})
        assert self.http.post(f"/runs/{run_id}/configure", data=data).status_code == 303
        return run_id

    def act(self, run_id: int, kind: str = "continue", expected: int | None = None, **knobs) -> httpx.Response:
        if expected is None:
            expected = self.stack.run(run_id).actions_used + 1
        return self.http.post(f"/runs/{run_id}/actions", data={"kind": kind, "expected_action": str(expected), **knobs})


def test_game_flow_through_celery_and_postgresql():
    with stack() as deployment:
        deployment.start_web()
        deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start()
        assert deployment.wait_ready(run_id).epoch == 1
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
            assert db.scalar(select(func.count()).select_from(ActionRecord).where(ActionRecord.run_id == run_id,
                                                                                  ActionRecord.attempts > 1)) == 0


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
        # Two extra deliveries of the very same task while the first is queued or training.
        celery = make_celery(Settings(**{k: v for k, v in deployment.settings.items()}))
        celery.send_task(TRAIN_EPOCH, args=[action_id])
        celery.send_task(TRAIN_EPOCH, args=[action_id])
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
            assert action.status == "running" and action.attempts == 1
        assert deployment.epochs(run_id=run_id) == 0
        deployment.start_worker()
        run = deployment.wait_ready(run_id, timeout=180)
        assert run.status == "ready" and run.epoch == 1
        assert deployment.epochs(run_id=run_id) == 1
        with deployment.db() as db:
            assert db.get(ActionRecord, action.id).attempts == 2
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
                deployment.wait(lambda: db.scalar(select(func.count()).select_from(ActionRecord).where(
                    ActionRecord.run_id == run_id, ActionRecord.dispatched_at.is_not(None),
                    ActionRecord.status == "queued")), 30, "the epoch to be sent")
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
            from tests.test_web_game import ready_player
            ready_player(player)
            run_id = player.start()
            player.configure(run_id)
            player.wait_ready(run_id)
            player.act(run_id)
            player.wait_ready(run_id)
        with factory() as db:
            action_id = db.scalar(select(func.max(ActionRecord.id)).where(ActionRecord.run_id == run_id))
            # Pretend every start so far died with its worker: running, silent, out of attempts.
            db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(
                status="running", attempts=3, heartbeat_at=service.utcnow().replace(year=2000)))
            db.execute(update(Run).where(Run.id == run_id).values(status="training"))
            db.execute(EpochRecord.__table__.delete().where(EpochRecord.action_id == action_id))
            db.commit()
        epoch_job.execute_action(factory, action_id, stale_after=5, max_attempts=3)
        with factory() as db:
            run = db.get(Run, run_id)
            assert run.status == "failed" and "stopped its trainer 3 times" in run.error
            assert db.get(ActionRecord, action_id).status == "failed"
            assert db.scalar(select(func.count()).select_from(EpochRecord).where(EpochRecord.action_id == action_id)) == 0
        engine.dispose()


def test_two_workers_claiming_one_action_only_one_wins():
    with postgres_database() as url:
        migrate.upgrade(url)
        engine = create_engine(url, pool_size=10)
        factory = sessionmaker(engine, expire_on_commit=False)
        from tests.webutil import game
        with game(url) as player:
            from tests.test_web_game import ready_player
            ready_player(player)
            run_id = player.start()
            player.configure(run_id)
            player.wait_ready(run_id)
        with factory() as db:
            action_id = db.scalar(select(func.max(ActionRecord.id)).where(ActionRecord.run_id == run_id))
            db.execute(update(ActionRecord).where(ActionRecord.id == action_id).values(status="queued", attempts=0))
            db.commit()
        barrier = threading.Barrier(8)

        def claim(_):
            with factory() as db:
                barrier.wait()
                won = epoch_job.claim_action(db, action_id, stale_after=60, max_attempts=3)
                db.commit()
                return won

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(claim, range(8)))
        assert results.count(True) == 1
        with factory() as db:
            assert db.get(ActionRecord, action_id).attempts == 1
        engine.dispose()


def _epoch_actions(deployment: Stack, run_id: int) -> list[ActionRecord]:
    with deployment.db() as db:
        return list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id,
                                                          ActionRecord.kind.in_(("initial", "continue")))
                               .order_by(ActionRecord.index)))


def test_a_runs_epochs_stick_to_the_worker_holding_its_data_while_it_lives():
    with stack(worker_alive_seconds=2) as deployment:
        deployment.start_web()
        workers = [deployment.start_worker(), deployment.start_worker()]
        player = Browserless(deployment)
        run_id = player.start()
        deployment.wait_ready(run_id)
        for _ in range(3):
            assert player.act(run_id).status_code == 303
            deployment.wait_ready(run_id)
        actions = _epoch_actions(deployment, run_id)
        holder = actions[0].worker_queue
        assert holder is not None and all(a.worker_queue == holder for a in actions)
        assert all(a.dispatched_queue == holder for a in actions[1:])  # sent to that worker's own queue
        # The holder dies: the next epoch is trained by the other worker, from the shared queue.
        dead = next(w for w in workers if holder.endswith(_worker_name(w)))
        dead.kill9()
        assert player.act(run_id).status_code == 303
        run = deployment.wait_ready(run_id, timeout=120)
        assert run.epoch == 5
        last = _epoch_actions(deployment, run_id)[-1]
        assert last.worker_queue not in (None, holder)


def _worker_name(worker) -> str:
    """The --name a test worker was started with."""
    args = worker.popen.args
    return args[args.index("--name") + 1]
