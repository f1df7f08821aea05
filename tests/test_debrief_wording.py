"""The debrief's words: a branch's end counted in the epochs the player had left, and two picks as docs/instructors.md says."""

from __future__ import annotations

from app.debrief.models import BranchRecord
from app.debrief.service import branch_end_text
from app.runs.models import Run
from engine.play import PLAYER_DONE


def test_a_branch_from_epoch_6_trained_the_24_epochs_left():
    branch = BranchRecord(run_id=1, from_epoch=6, reason="best")
    assert branch_end_text(branch, Run(epoch=30, end_reason="trained 30 epochs")) == "trained all 24 epochs you had left"
    assert branch_end_text(branch, Run(epoch=15, end_reason=PLAYER_DONE)) == "pressed Done after 9 of the 24 epochs you had left"


def test_one_default_branch_still_leaves_two_picks(tmp_path):
    from app.debrief.service import debrief_view
    from tests.support.records import dataset_with_baselines, ended_run, student
    from tests.webutil import game

    with game(f"sqlite:///{tmp_path}/d.sqlite3", pool_size=1) as player:
        with player.app.state.session_factory() as db:
            run = ended_run(db, student(db, "s1", "Ada"), dataset_with_baselines(db), 0.9)
            run.debrief_open = True
            db.add(BranchRecord(run_id=run.id, from_epoch=1, reason="best", status="done"))
            db.flush()
            assert debrief_view(db, run)["picks_left"] == 2  # docs/instructors.md's "up to two more", not 4 - 1
            db.add(BranchRecord(run_id=run.id, from_epoch=2, reason="picked", status="pending"))
            db.flush()
            assert debrief_view(db, run)["picks_left"] == 1
