"""A surveyed player on a fresh SQLite game, runs played to a chosen point over HTTP, and waiting for the
background work (baselines, queued epochs) to settle."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

from sqlalchemy import func, select

from app.datasets.models import DatasetRecord
from app.runs.models import ActionRecord
from tests.webutil import Player, game


@contextmanager
def sqlite_player(tmp_path, student_id: str = "s1", name: str = "Ada Lovelace", **overrides):
    """A logged-in, surveyed player on a new SQLite database (thread runner, tiny datasets)."""
    with game(f"sqlite:///{tmp_path}/game.sqlite3", **overrides) as player:
        assert player.login(student_id, name).status_code == 200
        assert player.survey().status_code == 200
        yield player


def configured_run(player: Player, **choices) -> int:
    """A pool run with its first epoch trained."""
    run_id = player.start()
    assert player.configure(run_id, **choices).status_code == 303
    player.wait_ready(run_id)
    return run_id


def wait_dataset_ready(player: Player, token: str, timeout: float = 120) -> None:
    """Wait (in the database: Start is a rate-limited action) until scenario ``token``'s dataset is playable."""
    from app.scenarios.models import Scenario

    deadline = time.monotonic() + timeout
    while True:
        with player.app.state.session_factory() as db:
            scenario = db.scalar(select(Scenario).where(Scenario.token == token))
            if db.get(DatasetRecord, scenario.dataset_id).baseline_status == "done":
                return
        assert time.monotonic() < deadline, "the scenario's dataset never became ready"
        time.sleep(0.2)


def start_run(player: Player, timeout: float = 120) -> int:
    """Start a dataset, waiting (without hammering the rate-limited POST /runs) while baselines are computed."""
    deadline = time.monotonic() + timeout
    while not player.pool_ready():
        assert time.monotonic() < deadline, "no dataset became ready"
        time.sleep(0.1)
    while True:
        response = player.client.post("/runs", follow_redirects=False)
        assert response.status_code == 303, response.text
        found = re.search(r"/runs/(\d+)/configure", response.headers["location"])
        if found:
            return int(found.group(1))
        assert response.headers["location"] == "/runs/new", response.headers["location"]
        assert time.monotonic() < deadline, "no dataset became ready"
        time.sleep(0.2)


def settle(player: Player, timeout: float = 60) -> None:
    """Wait until no baseline, reference player or player's action is still being computed: exports must be comparable.

    The datasets table carries the reference players' scores, so an export taken while they compute
    differs from one taken after.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with player.app.state.session_factory() as db:
            busy = db.scalar(select(func.count()).select_from(DatasetRecord)
                             .where(DatasetRecord.baseline_status.in_(("pending", "running"))
                                    | DatasetRecord.references_status.in_(("pending", "running"))))
            busy += db.scalar(select(func.count()).select_from(ActionRecord)
                              .where(ActionRecord.status.in_(("queued", "running"))))
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError("baselines, reference players or actions still running")
