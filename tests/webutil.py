"""Helpers for HTTP-level tests of the web game: databases by URL and a scripted player."""

from __future__ import annotations

import re
import time
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.factory import create_app
from bench.game_http import CsrfMixin
from app.datasets.models import DatasetRecord
from app.runs import service as runs_service
from app.runs.models import Run
from app.settings import Settings

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    """True when the local PostgreSQL answers."""
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def postgres_database():
    """A fresh, uniquely named PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"hq_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def backend_url(kind: str, directory):
    """A fresh database of ``kind``: a SQLite file in ``directory``, or a new PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/game.sqlite3"
        return
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        yield url


def test_settings(database_url: str, **overrides) -> Settings:
    """Settings for a test app: tiny datasets, short baselines, a small pool."""
    values = {
        "database_url": database_url,
        "dataset_size": "tiny",
        "baseline_epochs": 2,
        "pool_size": 2,
        "device": "cpu",
        "secret_key": "test-secret-key",
        # In-process tests train on a thread: a training process per test app would add seconds to
        # each. The served app's default (a training process) is what the end-to-end tests run.
        "embedded_runner": "thread",
    }
    values.update(overrides)
    return Settings(**values)


class Player:
    """A student driving the game over HTTP."""

    def __init__(self, client: TestClient, app) -> None:
        self.client = client
        self.app = app

    def login(self, student_id: str = "s1", name: str = "Ada Lovelace"):
        return self.client.post("/login", data={"student_id": student_id, "name": name})

    def survey(self):
        return self.client.post(
            "/survey",
            data={
                "education": "Masters student",
                "experience_years": "Less than 6 months",
                "self_rating": "Some experience",
                "network_types": ["Fully connected networks", "Convolutional neural networks"],
            },
        )

    def start(self, timeout: float = 120) -> int:
        """Start a dataset, waiting while the pool's datasets still compute their baselines."""
        deadline = time.monotonic() + timeout
        while not self.pool_ready():  # wait here rather than hammering POST /runs (a rate-limited action)
            assert time.monotonic() < deadline, "no pool dataset became ready"
            time.sleep(0.1)
        while True:
            response = self.client.post("/runs", follow_redirects=False)
            assert response.status_code == 303, response.text
            if response.headers["location"] != "/runs/new":
                return int(re.search(r"/runs/(\d+)/configure", response.headers["location"]).group(1))
            assert time.monotonic() < deadline, "no pool dataset became ready"
            time.sleep(0.1)

    def pool_ready(self) -> bool:
        """True once some dataset has all its baselines."""
        with self.app.state.session_factory() as db:
            return db.scalar(select(DatasetRecord.id).where(DatasetRecord.baseline_status == "done").limit(1)) is not None

    def configure(self, run_id: int, **choices):
        data = {"width": "32", "lr": "0.1", "depth": "2", "dropout": "0"}
        data.update({k: str(v) for k, v in choices.items()})
        return self.client.post(f"/runs/{run_id}/configure", data=data, follow_redirects=False)

    def run(self, run_id: int) -> Run:
        with self.app.state.session_factory() as db:
            return db.scalar(select(Run).where(Run.id == run_id))

    def wait_ready(self, run_id: int, timeout: float = 120) -> Run:
        """The run once its epoch is trained (or, once it has ended, its test accuracy measured)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.app.state.session_factory() as db:
                run = db.scalar(select(Run).where(Run.id == run_id))
                if not run.busy and not runs_service.awaiting_test_accuracy(db, run):
                    return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} still training after {timeout}s")

    def act(self, run_id: int, kind: str = "continue", expected: int | None = None, **knobs):
        if expected is None:
            expected = self.run(run_id).actions_used + 1
        data = {"kind": kind, "expected_action": str(expected)}
        data.update(knobs)
        return self.client.post(f"/runs/{run_id}/actions", data=data, follow_redirects=False)

    def play_ready(self, run_id: int, kind: str = "continue", **knobs) -> Run:
        response = self.act(run_id, kind, **knobs)
        assert response.status_code == 303, response.text
        return self.wait_ready(run_id)


def count(player: Player, model, **where) -> int:
    """Rows of ``model`` matching ``where`` in the player's database."""
    with player.app.state.session_factory() as db:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.scalar(query)


class GameTestClient(CsrfMixin, TestClient):
    """TestClient that sends the session's CSRF token with every POST, as the site's own forms do."""


@contextmanager
def game(database_url: str, **overrides):
    """A running app (migrations applied, runner started) and a Player bound to it."""
    app = create_app(test_settings(database_url, **overrides))
    with GameTestClient(app) as client:
        yield Player(client, app)
