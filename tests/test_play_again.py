"""Play again: a new run goes to a ready dataset the player has not played yet, then to the one they played least."""

from __future__ import annotations

import random
import time

from sqlalchemy import func, select

from app.accounts.models import Student
from app.datasets.models import DatasetRecord
from app.runs import service
from app.runs.models import Run
from tests.support.play import sqlite_player


class FirstChoice(random.Random):
    """An rng that always draws the first candidate: whatever the draw, the rule decides."""

    def choice(self, seq):
        return seq[0]


def wait_until_ready(app, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.state.session_factory() as db:
            if db.scalar(select(func.count()).select_from(DatasetRecord).where(DatasetRecord.baseline_status == "done")) == count:
                return
        time.sleep(0.2)
    raise AssertionError(f"the pool's {count} datasets were not ready in {timeout} s")


def test_new_runs_spread_over_the_ready_pool(tmp_path):
    with sqlite_player(tmp_path, pool_size=3) as player:
        app = player.app
        wait_until_ready(app, 3)
        first_run = player.start()  # over HTTP, like "Start a dataset"
        with app.state.session_factory() as db:
            student = db.scalar(select(Student).where(Student.student_id == "s1"))
            for _ in range(5):  # "Play again", with a draw that always takes the first candidate
                service.start_run(db, student, app.state.settings, FirstChoice())
                db.flush()
            picked = list(db.scalars(select(Run.dataset_id).where(Run.student_pk == student.id).order_by(Run.id)))
    assert picked[0] == player.run(first_run).dataset_id
    assert len(set(picked[:3])) == 3, f"a dataset came back while another was unplayed: {picked}"
    assert len(set(picked[3:6])) == 3, f"a dataset came a third time before another a second: {picked}"
