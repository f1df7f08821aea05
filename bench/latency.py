"""The overhead a player feels around an epoch, measured on real processes.

For each Continue: from the moment the browser posts it to the moment a runner starts training
(``actions.started_at``), and from the epoch's end (``actions.finished_at``) to the moment the
browser's event stream says "ready". Embedded mode runs `hyperquest serve` on a temporary SQLite
file; the Celery mode adds a `hyperquest worker`, a temporary PostgreSQL database and a Redis key
prefix, all removed afterwards.

The browser's side is played with httpx (the ``bench`` extra), imported only when a measurement
runs: ``require_client()`` says in one line what to install when it is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import statistics
import tempfile
import threading
import time
import uuid
from typing import TYPE_CHECKING

import psycopg
import redis
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.db.base import as_utc
from bench.processes import hyperquest_env, start_server, start_worker
from app.runs.models import ActionRecord
from engine.errors import ConfigError
from engine.rules import MAX_EPOCHS

if TYPE_CHECKING:
    import httpx

MODES = ("embedded", "celery")
#: Epochs here are short (small data, 32x2) so the figures are about the plumbing, not training.
SETTINGS = {"dataset_size": "small", "baseline_epochs": 1, "pool_size": 1, "device": "cpu"}


@dataclasses.dataclass(frozen=True)
class LatencyResult:
    """Per mode: the two overheads in milliseconds (p50, p95) over ``samples`` Continues."""

    mode: str
    samples: int
    to_start_p50: float
    to_start_p95: float
    to_browser_p50: float
    to_browser_p95: float


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


MISSING_CLIENT = "the latency figures need the 'bench' extra: pip install 'hyperquest[bench]' (or use --parts engine)"


def require_client() -> None:
    """Raise ConfigError (one line naming the extra) unless the HTTP client the measurement plays with is installed."""
    try:
        import httpx  # noqa: F401
    except ModuleNotFoundError:
        raise ConfigError(MISSING_CLIENT) from None


def measure(mode: str, rounds: int, redis_url: str, postgres_admin_url: str) -> LatencyResult:
    """Play ``rounds`` Continues against a fresh deployment in ``mode`` and summarise the overheads."""
    if mode not in MODES:
        raise ConfigError(f"unknown latency mode {mode!r}; choose from {', '.join(MODES)}")
    require_client()
    with _deployment(mode, redis_url, postgres_admin_url) as (base, database_url):
        engine = create_engine(database_url)
        try:
            to_start, to_browser = _play(base, sessionmaker(engine), rounds)
        finally:
            engine.dispose()
    return LatencyResult(
        mode, len(to_start),
        percentile(to_start, 50), percentile(to_start, 95), percentile(to_browser, 50), percentile(to_browser, 95),
    )


@contextlib.contextmanager
def _deployment(mode: str, redis_url: str, postgres_admin_url: str):
    if mode == "embedded":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/latency.sqlite3"
            server, base = start_server(hyperquest_env(database_url=url, **SETTINGS))
            try:
                yield base, url
            finally:
                server.stop()
        return
    prefix = f"hqbench-{uuid.uuid4().hex[:8]}"
    name = f"hq_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(postgres_admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        raise ConfigError(f"the celery latency benchmark needs PostgreSQL and Redis: {exc}") from None
    url = postgres_admin_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    env = hyperquest_env(database_url=url, redis_url=redis_url, redis_prefix=prefix, **SETTINGS)
    server = worker = None
    try:
        server, base = start_server(env)
        worker = start_worker(env)
        yield base, url
    finally:
        for process in (worker, server):
            if process:
                process.stop()
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


def _play(base: str, db: sessionmaker, rounds: int) -> tuple[list[float], list[float]]:
    """Continue ``rounds`` times (new runs as the epoch budget runs out); collect both overheads in ms."""
    from bench.game_http import GameClient

    to_start: list[float] = []
    to_browser: list[float] = []
    with GameClient(base_url=base, timeout=60) as http:
        http.post("/login", data={"student_id": "bench", "name": "Latency Bench"})
        http.post("/survey", data={"education": "Masters student", "experience_years": "Less than 6 months",
                                   "self_rating": "Some experience", "network_types": ["Convolutional neural networks"]})
        run_id, epochs = None, MAX_EPOCHS
        while len(to_start) < rounds:
            if epochs >= MAX_EPOCHS - 1:
                run_id = _new_run(http)
                _wait_ready(http, run_id)
                epochs = 1
            posted = time.time()
            response = http.post(f"/runs/{run_id}/actions", data={"kind": "continue", "expected_action": str(epochs + 1)},
                                 follow_redirects=False)
            if response.status_code != 303:
                raise RuntimeError(f"Continue was refused ({response.status_code})")
            told = _wait_ready(http, run_id)
            epochs += 1
            with db() as session:
                action = session.scalar(select(ActionRecord).where(ActionRecord.run_id == run_id).order_by(ActionRecord.id.desc()))
            started, finished = _epoch_seconds(action.started_at), _epoch_seconds(action.finished_at)
            to_start.append((started - posted) * 1000)
            to_browser.append(max(0.0, told - finished) * 1000)
    return to_start, to_browser


def _new_run(http: httpx.Client) -> int:
    deadline = time.monotonic() + 600
    while (response := http.post("/runs", follow_redirects=False)).headers["location"] == "/runs/new":
        if time.monotonic() > deadline:
            raise RuntimeError("no pool dataset became ready (baselines still computing)")
        time.sleep(0.5)
    run_id = int(re.search(r"/runs/(\d+)/configure", response.headers["location"]).group(1))
    http.post(f"/runs/{run_id}/configure", data={"width": "32", "lr": "0.01", "depth": "2", "dropout": "0"})
    return run_id


def _wait_ready(http: httpx.Client, run_id: int) -> float:
    """Follow the run's event stream (as the training page does) until "ready"; return when it came."""
    result: dict[str, float] = {}

    def listen() -> None:
        with http.stream("GET", f"/runs/{run_id}/events") as stream:
            event = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and event == "ready":
                    result["told"] = time.time()
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    thread.join(120)
    if "told" not in result:
        raise RuntimeError(f"run {run_id} never became ready")
    return result["told"]


def _epoch_seconds(moment: dt.datetime) -> float:
    """A stored timestamp as seconds since the epoch (SQLite returns them without a timezone)."""
    return as_utc(moment).timestamp()
