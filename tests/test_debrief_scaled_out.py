"""Debrief branches in the scaled-out mode: sent to Celery workers, and finished after a worker is killed mid-branch."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.classroom.models import ClassSettings
from app.debrief.models import BRANCH_JOB, BranchRecord
from app.runs.models import Run
from tests.support.jobs import job_of
from tests.support.stack import Browserless, stack

pytestmark = [pytest.mark.usefixtures("services_up"), pytest.mark.processes]


def _branches(deployment, run_id: int) -> list[BranchRecord]:
    with deployment.db() as db:
        return list(db.scalars(select(BranchRecord).where(BranchRecord.run_id == run_id).order_by(BranchRecord.id)))


def test_worker_killed_mid_branch_then_a_new_worker_plays_it_again():
    # `small` images: a branch of ~28 CNN epochs lasts long enough to be killed in the middle.
    with stack(dataset_size="small") as deployment:
        with deployment.db() as db:
            db.add(ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=["shapes"],
                                 reveal_test_accuracy=False))
            db.commit()
        deployment.start_web()
        worker = deployment.start_worker()
        player = Browserless(deployment)
        run_id = player.start()
        deployment.wait_ready(run_id, timeout=180)
        assert player.act(run_id).status_code == 303
        deployment.wait_ready(run_id, timeout=180)
        assert player.act(run_id, "done").status_code == 303
        running = deployment.wait(
            lambda: next((b for b in _branches(deployment, run_id) if b.status == "running" and b.epochs_done >= 1), None),
            300, "a branch in progress")
        worker.kill9()
        assert {b.id: b for b in _branches(deployment, run_id)}[running.id].bot_run_id is None
        deployment.start_worker()
        # The web app's reconciler re-sends the branch once its lease is stale; the new worker plays it again.
        deployment.wait(lambda: all(b.status == "done" for b in _branches(deployment, run_id)), 600, "every branch done")
        branches = {b.id: b for b in _branches(deployment, run_id)}
        with deployment.db() as db:
            assert job_of(db, BRANCH_JOB, running.id).attempts == 2  # the killed worker's start counts
            stored = db.scalars(select(Run).where(Run.parent_run_id == run_id)).all()
            assert sorted(r.id for r in stored) == sorted(b.bot_run_id for b in branches.values())
            assert db.scalar(select(func.count()).select_from(Run).where(Run.parent_run_id == run_id)) == len(branches)
        page = player.http.get(f"/runs/{run_id}/result")
        assert "Automatic player reached" in page.text
