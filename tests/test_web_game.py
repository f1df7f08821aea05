"""The browser game over HTTP, on SQLite and on PostgreSQL: the whole flow, every rule, bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.runs.models import ActionRecord, CheckpointRecord, EpochRecord
from tests.services import wait_for
from tests.webutil import count, game
from tests.support.players import ready_player


def test_login_survey_instructions(player):
    assert player.client.get("/", follow_redirects=False).headers["location"] == "/login"
    bad = player.client.post("/login", data={"student_id": "", "name": "x"})
    assert bad.status_code == 422 and "Student ID" in bad.text
    page = player.login()
    assert "Please tell us a little bit about yourself." in page.text
    assert "s1" in page.text and "Logout" in page.text
    incomplete = player.client.post("/survey", data={"education": "Masters student"})
    assert incomplete.status_code == 422 and "please answer" in incomplete.text
    tampered = player.client.post("/survey", data={"education": "Wizard", "experience_years": "2+ years",
                                                   "self_rating": "Expert", "network_types": "None of the above"})
    assert tampered.status_code == 422
    page = player.survey()
    assert "You have trained 0 networks so far!" in page.text and "Start a dataset" in page.text
    # Once per student: the survey now sends the student on.
    assert player.client.get("/survey", follow_redirects=False).headers["location"] == "/instructions"


def test_whole_game_flow(player):
    ready_player(player)
    run_id = player.start()
    page = player.client.get(f"/runs/{run_id}/configure")
    for text in ("Initial Network Configuration", "network width", "Learning rate", "network depth", "Dropout rate",
                 "Dataset Statistics", "Classes:", "Input data size:", "Examples per split:"):
        assert text in page.text
    assert player.configure(run_id).status_code == 303
    run = player.wait_ready(run_id)
    assert run.epoch == 1 and run.actions_used == 1
    page = player.client.get(f"/runs/{run_id}")
    for text in ("Action 1 of max 60", "After training 1 of max 30 epochs on the current network", "Continue", "Done training",
                 "Revert (max 5 consecutive)", "Hyperparameter Adjustment", "Weight decay", "Next value",
                 "Configuration History", "Current best training accuracy", "Current best validation accuracy",
                 "Baseline:"):
        assert text in page.text, text

    player.play_ready(run_id)
    player.play_ready(run_id, lr="down")
    run = player.play_ready(run_id, width="up")
    assert run.config["width"] == 64 and run.config["lr"] == 0.03
    run = player.play_ready(run_id, depth="up")
    assert run.config["depth"] == 4 and run.epoch == 5
    with player.app.state.session_factory() as db:
        grown = db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id, EpochRecord.change.is_not(None))).all()
    assert len(grown) == 2
    for epoch in grown:
        assert abs(epoch.change["val_loss_after"] - epoch.change["val_loss_before"]) < 1e-5
        assert epoch.change["val_acc_after"] == epoch.change["val_acc_before"]
    page = player.client.get(f"/runs/{run_id}").text
    assert "the grown network keeps what it learned" in page and "more capacity for the next epochs" in page

    response = player.act(run_id, "revert")
    assert response.status_code == 303
    run = player.run(run_id)
    assert run.epoch == 4 and run.config["depth"] == 2 and run.consecutive_reverts == 1

    history = player.client.get(f"/runs/{run_id}/history.json").json()
    assert history["epochs"] == [1, 2, 3, 4] and len(history["reverted"]) == 1 and history["changes"]

    response = player.act(run_id, "done")
    assert response.headers["location"] == f"/runs/{run_id}"
    result = player.client.get(f"/runs/{run_id}/result")
    assert "Your score" in result.text and "Play again" in result.text and "Your rank on this dataset" in result.text
    run = player.run(run_id)
    assert run.status == "ended" and run.best_val_acc is not None
    board = player.client.get("/leaderboard")
    assert "Ada Lovelace" in board.text and f"{run.best_val_acc:.3f}" in board.text
    assert "You have trained 1 network so far!" in player.client.get("/instructions").text
    # Retention: the debrief keeps the checkpoints its branches start from until the player moves on
    # (and its branches are computed); then only the best checkpoint is kept.
    player.start()
    wait_for(lambda: count(player, CheckpointRecord, run_id=run_id) == 1, 300, "the ended run pruned to its best", [])


def test_double_submit_trains_once(player):
    ready_player(player)
    run_id = player.start()
    assert player.configure(run_id).status_code == 303
    assert player.configure(run_id).headers["location"] == f"/runs/{run_id}"  # second click: no new run/epoch
    player.wait_ready(run_id)
    expected = player.run(run_id).actions_used + 1
    first = player.act(run_id, expected=expected)
    second = player.act(run_id, expected=expected)  # double click, replay, or back button + resubmit
    assert first.status_code == 303
    assert second.status_code == 409
    player.wait_ready(run_id)
    replay = player.act(run_id, expected=expected)
    assert replay.status_code == 409 and "already submitted" in replay.text
    assert count(player, EpochRecord, run_id=run_id) == 2
    assert count(player, ActionRecord, run_id=run_id) == 2


def test_continue_while_training_is_refused(database_url):
    # A small dataset makes epoch 1 take seconds, so the second post surely meets it training.
    with game(database_url, dataset_size="small", baseline_epochs=1) as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id)
        response = player.act(run_id, expected=2)
        assert response.status_code == 409 and "still training" in response.text
        assert player.run(run_id).busy
        player.wait_ready(run_id)
        assert count(player, ActionRecord, run_id=run_id) == 1


def test_revert_limits(player):
    ready_player(player)
    run_id = player.start()
    player.configure(run_id, width=32, depth=2)
    player.wait_ready(run_id)
    for _ in range(6):
        player.play_ready(run_id)
    for k in range(5):
        assert player.act(run_id, "revert").status_code == 303
    run = player.run(run_id)
    assert run.epoch == 2 and run.consecutive_reverts == 5
    page = player.client.get(f"/runs/{run_id}").text
    assert "at most 5 reverts in a row" in page
    sixth = player.act(run_id, "revert")
    assert sixth.status_code == 422 and "in a row" in sixth.text
    player.play_ready(run_id)
    assert player.act(run_id, "revert").status_code == 303


def test_impossible_step_is_refused(player):
    ready_player(player)
    run_id = player.start()
    player.configure(run_id)
    player.wait_ready(run_id)
    page = player.client.get(f"/runs/{run_id}").text
    assert "weight decay is already at its minimum" in page
    response = player.act(run_id, weight_decay="down")
    assert response.status_code == 422 and "minimum" in response.text
    assert player.run(run_id).actions_used == 1


@pytest.mark.parametrize(
    "form,status",
    [
        ({"width": "7"}, 422),
        ({"lr": "abc"}, 422),
        ({"depth": ""}, 422),
        ({"dropout": "0.3"}, 422),
    ],
)
def test_tampered_configuration_form(player, form, status):
    ready_player(player)
    run_id = player.start()
    response = player.configure(run_id, **form)
    assert response.status_code == status
    assert "Traceback" not in response.text and "must be one of" in response.text or "choose a value" in response.text
    assert player.run(run_id).status == "configuring"


@pytest.mark.parametrize(
    "data,status,message",
    [
        ({"kind": "fly", "expected_action": "2"}, 422, "choose Continue"),
        ({"kind": "continue", "expected_action": "2", "width": "sideways"}, 422, "up, down or same"),
        ({"kind": "continue"}, 400, "action number"),
        ({"kind": "continue", "expected_action": "abc"}, 400, "action number"),
    ],
)
def test_tampered_action_form(player, data, status, message):
    ready_player(player)
    run_id = player.start()
    player.configure(run_id)
    player.wait_ready(run_id)
    response = player.client.post(f"/runs/{run_id}/actions", data=data)
    assert response.status_code == status and message in response.text
    assert player.run(run_id).actions_used == 1


def test_other_students_runs_and_unknown_ids(player):
    ready_player(player, "owner")
    run_id = player.start()
    player.configure(run_id)
    player.wait_ready(run_id)
    player.client.post("/logout")
    ready_player(player, "intruder")
    for url in (f"/runs/{run_id}", f"/runs/{run_id}/configure", f"/runs/{run_id}/result", f"/runs/{run_id}/history.json"):
        response = player.client.get(url)
        assert response.status_code == 403 and "another player" in response.text
    assert player.act(run_id, expected=2).status_code == 403
    assert player.client.get("/runs/999999").status_code == 404
    assert player.client.get("/runs/abc").status_code == 404
    assert player.client.get("/no/such/page").status_code == 404
    assert player.run(run_id).actions_used == 1


def test_actions_after_the_run_ended(player):
    ready_player(player)
    run_id = player.start()
    player.configure(run_id)
    player.wait_ready(run_id)
    assert player.act(run_id, "done").status_code == 303
    late = player.act(run_id)
    assert late.status_code == 422 and "ended" in late.text
    assert player.client.get(f"/runs/{run_id}", follow_redirects=False).headers["location"] == f"/runs/{run_id}/result"


def test_login_required_everywhere(player):
    for url in ("/instructions", "/survey", "/runs/1"):
        assert player.client.get(url, follow_redirects=False).headers["location"] == "/login"
    assert player.client.post("/runs").status_code == 401
