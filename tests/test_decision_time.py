"""Decision time: from when the page showed the finished epoch to the submit, never the training wait; labelled
so on the replay and in the export."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.research import export
from app.runs.models import ActionRecord, EpochRecord
from tests.support.play import sqlite_player
from tests.support.staff import instructor_client


def test_decision_time_is_the_page_measure_or_since_the_epoch_ended(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        run_id = player.start()
        assert player.client.post(f"/runs/{run_id}/configure", data={
            "width": "32", "lr": "0.1", "depth": "2", "dropout": "0", "decision_ms": "4200"}).status_code == 200
        player.wait_ready(run_id)
        # A submit that says how long its page showed the finished epoch: that is the decision time.
        assert player.act(run_id, decision_ms="2500").status_code == 303
        player.wait_ready(run_id)
        # One without (no JavaScript): measured on the server from the end of the previous epoch.
        assert player.act(run_id, decision_ms="not a number").status_code == 303
        player.wait_ready(run_id)
        with player.app.state.session_factory() as db:
            actions = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id).order_by(ActionRecord.index)))
            epoch_2 = db.scalar(select(EpochRecord).where(EpochRecord.action_id == actions[1].id))
        assert [(a.decision_seconds, a.decision_from) for a in actions[:2]] == [(4.2, "page"), (2.5, "page")]
        third = actions[2]
        assert third.decision_from == "epoch_end"
        waited = (third.created_at - actions[1].finished_at).total_seconds()
        assert abs(third.decision_seconds - waited) < 0.01
        since_previous = (third.created_at - actions[1].created_at).total_seconds()
        assert third.decision_seconds <= since_previous - epoch_2.seconds  # the training wait is not in it

        with instructor_client(player) as staff:
            replay = staff.get(f"/instructor/runs/{run_id}/replay").text
        assert "Decision time" in replay and "Thinking time" not in replay
        assert re.search(r"<td[^>]*>2.5 s</td>", replay) and "the training wait is not in it" in replay
        with player.app.state.session_factory() as db:
            rows = [r for r in export.build_tables(db, b"k" * 32)["actions"] if r["run_id"] == run_id]
        assert [(r["decision_s"], r["decision_from"]) for r in rows[:2]] == [(4.2, "page"), (2.5, "page")]
        assert rows[2]["decision_from"] == "epoch_end"


def test_the_automatic_player_decides_at_once(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        player.start()  # waits for the pool's baselines, the automatic player's run among them
        with player.app.state.session_factory() as db:
            from app.datasets.models import DatasetRecord

            bot_run_id = db.scalar(select(DatasetRecord.bot_run_id).where(DatasetRecord.bot_run_id.is_not(None)))
            actions = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == bot_run_id)
                                      .order_by(ActionRecord.index)))
        later = actions[1:]
        assert later and all(a.decision_from == "epoch_end" for a in later)
        for before, action in zip(actions, later):
            since_previous = (action.created_at - before.created_at).total_seconds()
            assert action.decision_seconds < since_previous  # not the training time of the epoch before
