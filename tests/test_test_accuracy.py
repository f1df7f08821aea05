"""Done (and a Revert that uses the last action) never evaluates inside the request: a runner measures
the hidden test accuracy, and the result page shows it once it is there."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from app.classroom.models import ClassSettings
from app.jobs.models import Job
from app.runs.models import TEST_ACCURACY_JOB, ActionRecord, Run
from engine import rules
from tests.support.players import ready_player
from tests.support.jobs import job_of, test_executor
from tests.webutil import game


def _trained_run(player) -> int:
    """A logged-in player, test accuracy revealed to players, and a run with one trained epoch."""
    ready_player(player)
    with player.app.state.session_factory() as db:
        db.execute(update(ClassSettings).values(reveal_test_accuracy=True))
        db.commit()
    run_id = player.start()
    player.configure(run_id)
    player.wait_ready(run_id)
    return run_id


def _last_action(player, run_id: int) -> ActionRecord:
    with player.app.state.session_factory() as db:
        return db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id).order_by(ActionRecord.index.desc())).first()


def _test_accuracy_job(player, run_id: int) -> Job | None:
    with player.app.state.session_factory() as db:
        return job_of(db, TEST_ACCURACY_JOB, run_id)


def _run_job(player, job_id: int) -> bool:
    """What a runner's executor does with the job (True if it was due and ran)."""
    return test_executor(player.app.state.session_factory, player.app.state.settings).run_job(job_id)


def _stream_snapshot(player, run_id: int) -> dict:
    with player.client.stream("GET", f"/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                return json.loads(line[5:])
    raise AssertionError("the stream sent nothing")


@pytest.mark.parametrize("ending", ["done", "revert at the action limit"])
def test_the_runner_measures_the_test_accuracy_after_the_request(tmp_path, ending):
    with game(f"sqlite:///{tmp_path}/t.sqlite3", pool_size=1, baseline_epochs=1) as player:
        run_id = _trained_run(player)
        player.play_ready(run_id)
        player.app.state.runner.stop()  # nothing measures in the background from here on: only the request runs
        if ending == "done":
            assert player.act(run_id, "done").status_code == 303
        else:
            with player.app.state.session_factory() as db:
                db.execute(update(Run).where(Run.id == run_id).values(actions_used=rules.MAX_ACTIONS - 1))
                db.commit()
            assert player.act(run_id, "revert").status_code == 303
        run = player.run(run_id)
        assert run.status == "ended" and run.test_acc is None  # the request did not evaluate
        assert _last_action(player, run_id).status == "done"  # the action itself trained nothing
        job = _test_accuracy_job(player, run_id)
        assert job is not None and job.status == "pending" and job.lane == "debrief"  # a restarted runner picks it up
        page = player.client.get(f"/runs/{run_id}/result").text
        assert "computing test accuracy…" in page and "/static/js/result.js" in page
        assert _stream_snapshot(player, run_id)["test_pending"] is True

        assert _run_job(player, job.id)
        run = player.run(run_id)
        assert 0.0 <= run.test_acc <= 1.0 and _test_accuracy_job(player, run_id).status == "done"
        page = player.client.get(f"/runs/{run_id}/result").text
        assert "computing test accuracy" not in page and f"{run.test_acc:.3f}" in page
        snapshot = _stream_snapshot(player, run_id)
        assert snapshot["test_pending"] is False and snapshot["busy"] is False
        assert not _run_job(player, job.id)  # a second delivery changes nothing
        assert player.run(run_id).test_acc == run.test_acc


def test_with_the_runner_going_the_figure_arrives_by_itself(tmp_path):
    with game(f"sqlite:///{tmp_path}/live.sqlite3", pool_size=1, baseline_epochs=1) as player:
        run_id = _trained_run(player)
        assert player.act(run_id, "done").status_code == 303
        run = player.wait_ready(run_id)
        assert run.test_acc is not None
        assert f"{run.test_acc:.3f}" in player.client.get(f"/runs/{run_id}/result").text
