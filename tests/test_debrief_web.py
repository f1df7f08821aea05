"""The debrief over HTTP on SQLite and PostgreSQL: branches planned at Done, played by the runner from the
player's checkpoints, stored as bot runs, picked by the player, surviving a runner restart; checkpoints released."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from app.debrief.models import BranchRecord
from app.debrief.models import BRANCH_JOB
from app.debrief.planning import MAX_BRANCHES, MAX_PICKS
from app.jobs.models import Job
from app.jobs.runners.embedded import ThreadRunner
from app.runs.models import ActionRecord, CheckpointRecord, EpochRecord, Run
from tests.services import wait_for as wait_for_processes
from tests.support.players import ready_player, staff_login
from tests.webutil import Player, game

BRANCH_TIMEOUT = 300


def wait_for(predicate, timeout: float, what: str):
    """The predicate's first truthy value (the runner is a thread here: no process to watch)."""
    return wait_for_processes(predicate, timeout, what, [])


def _finished_run(player: Player, continues: int = 3) -> int:
    ready_player(player)
    run_id = player.start()
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)
    for _ in range(continues):
        player.play_ready(run_id)
    player.play_ready(run_id, "done")
    return run_id


def _branches(player: Player, run_id: int) -> list[BranchRecord]:
    with player.app.state.session_factory() as db:
        return list(db.scalars(select(BranchRecord).where(BranchRecord.run_id == run_id).order_by(BranchRecord.from_epoch)))


def _all_done(player: Player, run_id: int):
    branches = _branches(player, run_id)
    return branches if branches and all(b.status in ("done", "failed") for b in branches) else None


def _checkpoints(player: Player, run_id: int) -> int:
    with player.app.state.session_factory() as db:
        return db.scalar(select(func.count()).select_from(CheckpointRecord).where(CheckpointRecord.run_id == run_id))


def test_done_plans_branches_that_start_from_the_players_checkpoints(database_url):
    with game(database_url) as player:
        run_id = _finished_run(player)
        branches = wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "the default branches")
        assert "best" in {b.reason for b in branches}
        with player.app.state.session_factory() as db:
            path = {e.number: e for e in db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id,
                                                                              EpochRecord.reverted.is_(False)))}
            for branch in branches:
                assert branch.status == "done", branch.error
                mine = path[branch.from_epoch]
                # The branch's first recorded state is the player's checkpoint, evaluated again.
                assert branch.start_val_acc == mine.val_acc
                bot = db.get(Run, branch.bot_run_id)
                assert (bot.parent_run_id, bot.parent_epoch, bot.status) == (run_id, branch.from_epoch, "ended")
                first_action = db.scalar(select(ActionRecord).where(ActionRecord.run_id == bot.id).order_by(ActionRecord.index))
                player_action = db.get(ActionRecord, mine.action_id)
                assert first_action.index == player_action.index + 1  # the budget left to the player at that epoch
                first_epoch = db.scalar(select(EpochRecord).where(EpochRecord.run_id == bot.id).order_by(EpochRecord.id))
                assert first_epoch.number == branch.from_epoch + 1
                assert bot.epoch <= 30 and bot.actions_used <= 60
        data = player.client.get(f"/runs/{run_id}/debrief.json").json()
        assert [b["from_epoch"] for b in data["branches"]] == [b.from_epoch for b in branches]
        assert all(b["curve"][0]["val_acc"] == b["start_val_acc"] for b in data["branches"])
        page = player.client.get(f"/runs/{run_id}/result")
        assert "Debrief" in page.text and "Automatic player reached" in page.text and "Random player" in page.text
        # Bot branches never reach the leaderboard.
        assert "Bot (rule-based)" not in player.client.get("/leaderboard").text
        # The instructor's replay shows the same debrief, read-only.
        player.client.post("/logout")
        staff_login(player, "prof", "instructor")
        replay = player.client.get(f"/instructor/runs/{run_id}/replay")
        assert replay.status_code == 200 and "Automatic player reached" in replay.text and "branch-form" not in replay.text
        staffed = player.client.get(f"/instructor/runs/{run_id}/debrief.json").json()
        assert [b["from_epoch"] for b in staffed["branches"]] == [b.from_epoch for b in branches]


def test_the_player_picks_a_branch_and_bad_picks_get_a_clear_message(database_url):
    with game(database_url) as player:
        run_id = _finished_run(player)
        wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "the default branches")
        data = player.client.get(f"/runs/{run_id}/debrief.json").json()
        assert data["branchable"], data
        bad = player.client.post(f"/runs/{run_id}/branches", data={"from_epoch": "29"})
        assert bad.status_code == 422 and "no kept checkpoint" in bad.text
        junk = player.client.post(f"/runs/{run_id}/branches", data={"from_epoch": "abc"})
        assert junk.status_code == 422 and "choose an epoch" in junk.text
        picked = data["branchable"][0]
        response = player.client.post(f"/runs/{run_id}/branches", data={"from_epoch": str(picked)}, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].endswith("/result#debrief")
        branches = wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "the picked branch")
        assert {b.from_epoch: b.reason for b in branches}[picked] == "picked"
        assert _checkpoints(player, run_id) >= 2  # the debrief still keeps its checkpoints
        # Starting another run ends the picking: the run keeps only its best checkpoint, as before.
        player.start()
        assert _checkpoints(player, run_id) == 1
        free = next(e for e in range(1, 30) if e not in {b.from_epoch for b in branches})
        closed = player.client.post(f"/runs/{run_id}/branches", data={"from_epoch": str(free)})
        assert closed.status_code == 409 and "no longer kept" in closed.text


def test_a_branch_interrupted_by_a_runner_stop_is_played_again_by_the_next_runner(database_url):
    with game(database_url) as player:
        run_id = _finished_run(player)
        running = wait_for(lambda: next((b for b in _branches(player, run_id) if b.status == "running" and b.epochs_done >= 1),
                                        None), BRANCH_TIMEOUT, "a branch in progress")
        player.app.state.runner.stop()
        stopped = {b.id: b for b in _branches(player, run_id)}[running.id]
        assert stopped.status == "pending" and stopped.bot_run_id is None
        state = player.app.state
        runner = ThreadRunner(state.session_factory, state.settings, state.notifier)
        runner.start()
        try:
            branches = wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "the branches after a restart")
        finally:
            runner.stop()
        again = {b.id: b for b in branches}[running.id]
        with state.session_factory() as db:
            job = db.scalar(select(Job).where(Job.kind == BRANCH_JOB, Job.subject_id == running.id))
            assert again.status == "done" and job.attempts == 1  # a clean stop does not count as a crash
            assert db.scalar(select(func.count()).select_from(Run).where(Run.parent_run_id == run_id)) == len(branches)


def test_at_most_max_branches_per_run(database_url):
    with game(database_url) as player:
        run_id = _finished_run(player, continues=6)
        wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "the default branches")
        defaults = len(_branches(player, run_id))
        assert player.client.get(f"/runs/{run_id}/debrief.json").json()["picks_left"] == MAX_PICKS  # as docs/instructors.md says
        for _ in range(MAX_PICKS):
            epochs = player.client.get(f"/runs/{run_id}/debrief.json").json()["branchable"]
            assert epochs, "seven epochs keep more branchable checkpoints than branches"
            assert player.client.post(f"/runs/{run_id}/branches", data={"from_epoch": str(epochs[0])},
                                      follow_redirects=False).status_code == 303
        assert player.client.get(f"/runs/{run_id}/debrief.json").json()["picks_left"] == 0
        wait_for(lambda: _all_done(player, run_id), BRANCH_TIMEOUT, "every branch")
        assert _checkpoints(player, run_id) == 1  # every branch asked for is computed: released
        page = player.client.get(f"/runs/{run_id}/result").text
        assert "branch-form" not in page
        assert len(re.findall(r'data-branch="\d+"', page)) == defaults + MAX_PICKS <= MAX_BRANCHES
