"""A scaled-out deployment for a test: a fresh PostgreSQL database, a Redis key prefix, `hyperquest serve` and
`hyperquest worker` processes started on demand, and a student playing it over real HTTP."""

from __future__ import annotations

import contextlib
import re
import time
import uuid

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker

from app.datasets.models import DatasetRecord
from app.db import migrate
from app.runs import service
from app.runs.models import EpochRecord, Run
from bench.game_http import GameClient
from bench.processes import hyperquest_env, start_server, start_worker
from tests.services import REDIS_URL, TcpProxy, delete_prefix, wait_for
from tests.webutil import postgres_database


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

    def start_worker(self, queues: str = "players,debrief,pool,background"):
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
