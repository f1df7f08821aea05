"""Scenario links over HTTP, on SQLite and PostgreSQL: creating one, following it, pinned and locked knobs, its leaderboard."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.classroom.service import PLAYABLE_FAMILIES
from app.datasets.models import DatasetRecord
from app.leaderboard.service import per_dataset, rank_on_dataset
from app.runs import service as runs_service
from app.runs.models import Run
from app.runs.view import FIXED_REASON, training_view
from app.scenarios import rules
from app.scenarios import service as scenarios
from app.scenarios.models import Scenario
from tests.services import wait_for
from tests.support.players import ready_player, staff_login
from tests.webutil import GameTestClient, game

FAMILY = PLAYABLE_FAMILIES[0]
#: "Only the learning rate may change": width pinned, dropout hidden, the rest locked.
LR_ONLY = {"title": "Lecture 7: the learning rate", "family": FAMILY, "seed": "7", "pin_width": "32", "pin_lr": "",
           "pin_depth": "", "pin_dropout": "", "lock": ["width", "depth", "weight_decay"], "hide": ["dropout"]}


def instructor_client(player) -> GameTestClient:
    """A second browser on the same app, logged in as an instructor (the player's session stays a student's)."""
    client = GameTestClient(player.app)
    original = player.client
    player.client = client
    try:
        staff_login(player, "prof", "instructor")
    finally:
        player.client = original
    return client


def create(client, **changes):
    return client.post("/instructor/scenarios", data={**LR_ONLY, **changes}, follow_redirects=False)


def scenario_by_title(player, title: str) -> Scenario:
    with player.app.state.session_factory() as db:
        return db.scalar(select(Scenario).where(Scenario.title == title))


def wait_baselines(player, dataset_id: int) -> None:
    def done():
        with player.app.state.session_factory() as db:
            return db.get(DatasetRecord, dataset_id).baseline_status == "done"
    wait_for(done, 300, "the scenario's dataset computed its baselines", [])


def test_instructor_creates_scenarios_with_clear_errors(database_url):
    with game(database_url) as player:
        prof = instructor_client(player)
        page = prof.get("/instructor/scenarios")
        assert page.status_code == 200 and "New scenario" in page.text and "No scenarios yet" in page.text
        for changes, message in (
            ({"family": "dragons"}, "unknown dataset family"),
            ({"seed": "-1"}, "the seed must be a whole number"),
            ({"seed": "1.5"}, "the seed must be a whole number"),
            ({"seed": "99999999999"}, "the seed must be a whole number"),
            ({"pin_lr": "0.5"}, "the learning rate must be the player&#39;s choice or one of 0.1, 0.01, 0.001"),
            ({"pin_width": "abc"}, "the network width must be"),
            ({"lock": ["lr", "momentum"]}, "unknown knob"),
            ({"title": "  "}, "give the scenario a title"),
            ({"title": "x" * 121}, "at most 120 characters"),
        ):
            response = create(prof, **changes)
            assert response.status_code == 422, (changes, response.status_code)
            assert message in response.text, (changes, message)
        with player.app.state.session_factory() as db:
            assert db.scalar(select(Scenario.id)) is None  # nothing half-created

        response = create(prof)
        assert response.status_code == 303
        scenario = scenario_by_title(player, LR_ONLY["title"])
        assert response.headers["location"] == f"/instructor/scenarios?created={scenario.token}"
        assert scenario.config == {"width": 32, "dropout": 0.0}  # hidden and unpinned: the default
        assert set(scenario.locked) == {"width", "depth", "weight_decay", "dropout"} and scenario.hidden == ["dropout"]
        assert scenario.created_by == "prof" and len(scenario.token) >= 12
        with player.app.state.session_factory() as db:
            dataset = db.get(DatasetRecord, scenario.dataset_id)
            assert (dataset.family, dataset.seed, dataset.size) == (FAMILY, 7, "tiny")
        page = prof.get(response.headers["location"]).text
        assert f"http://testserver/s/{scenario.token}" in page and "Lecture 7" in page
        assert "locked: network width, network depth, weight decay; hidden: dropout rate" in page
        # A pure demonstration: every knob locked is allowed, and the list says so.
        assert create(prof, title="Demo", lock=["width", "depth", "lr", "dropout", "weight_decay"]).status_code == 303
        assert "All knobs locked" in prof.get("/instructor/scenarios").text
        # Same family and seed: the same dataset, not a second copy.
        assert scenario_by_title(player, "Demo").dataset_id == scenario.dataset_id

        # Students and visitors cannot create links.
        ready_player(player)
        assert player.client.get("/instructor/scenarios").status_code == 403
        assert create(player.client, title="Sneaky").status_code == 403
        assert scenario_by_title(player, "Sneaky") is None


def test_following_a_link_pins_locks_and_ranks_separately(database_url):
    with game(database_url) as player:
        prof = instructor_client(player)
        assert create(prof).status_code == 303
        scenario = scenario_by_title(player, LR_ONLY["title"])
        link = f"/s/{scenario.token}"

        # Unknown tokens are a 404 page, logged in or not; a visitor is sent to log in first.
        assert player.client.get("/s/nosuchtoken").status_code == 404
        assert player.client.get("/s/" + "x" * 40).status_code == 404
        assert player.client.get("/s/bad%20token").status_code == 404
        response = player.client.get(link, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/login?next={link}"
        assert player.client.get(link + "/leaderboard", follow_redirects=False).headers["location"] == f"/login?next={link}/leaderboard"
        ready_player(player)
        assert player.client.get("/s/nosuchtoken").status_code == 404
        assert player.client.post("/s/nosuchtoken/runs").status_code == 404

        wait_baselines(player, scenario.dataset_id)
        page = player.client.get(link)
        assert page.status_code == 200
        for text in ("Lecture 7: the learning rate", FAMILY, "Start", "fixed during training",
                     "you may change it during training", "not shown", f"{link}/leaderboard"):
            assert text in page.text, text
        assert "Dropout rate" not in page.text  # hidden knobs are not named

        response = player.client.post(f"{link}/runs", follow_redirects=False)
        assert response.status_code == 303
        run_id = int(re.search(r"/runs/(\d+)/configure", response.headers["location"]).group(1))
        run = player.run(run_id)
        assert run.scenario_id == scenario.id and run.dataset_id == scenario.dataset_id and run.status == "configuring"

        # The form posts other values for the pinned and hidden knobs: the scenario's win.
        assert player.configure(run_id, width="128", lr="0.1", depth="2", dropout="0.5").status_code == 303
        run = player.wait_ready(run_id)
        assert run.initial_config == {"width": 32, "depth": 2, "lr": 0.1, "weight_decay": 0.0, "dropout": 0.0}

        for knob, phrase in (("width", "network width"), ("depth", "network depth"), ("dropout", "dropout rate"),
                             ("weight_decay", "weight decay")):
            response = player.act(run_id, **{knob: "up"})
            assert response.status_code == 422 and f"the {phrase} is fixed in this scenario" in response.text
        assert player.run(run_id).actions_used == 1  # refused actions are not counted
        run = player.play_ready(run_id, lr="down")
        assert run.config["lr"] < 0.1 and run.config["width"] == 32 and run.epoch == 2

        with player.app.state.session_factory() as db:
            run = db.get(Run, run_id)
            view = training_view(run, db.get(DatasetRecord, run.dataset_id), runs_service.all_epochs(db, run),
                                 scenario=rules.view(db, run))
        knobs = {k["knob"]: k for k in view["knobs"]}
        assert "dropout" not in knobs and set(knobs) == {"weight_decay", "depth", "lr", "width"}
        assert all(o["possible"] for o in knobs["lr"]["options"] if o["direction"] != "same" and o["reason"] is None)
        for knob in ("width", "depth", "weight_decay"):
            up, down = knobs[knob]["options"][1:]
            assert not up["possible"] and not down["possible"] and up["reason"] == FIXED_REASON
        assert all("Dropout" not in row["config"] for row in view["history"])

        assert player.act(run_id, "done").status_code == 303
        player.wait_ready(run_id)
        board = player.client.get(f"{link}/leaderboard")
        assert board.status_code == 200 and "Scenario leaderboard: Lecture 7" in board.text
        assert "<td>Ada Lovelace</td>" in board.text and "Reference: Default schedule" in board.text
        assert "<td>Ada Lovelace</td>" not in player.client.get("/leaderboard").text
        assert player.client.get(f"/runs/{run_id}/result").status_code == 200
        with player.app.state.session_factory() as db:
            run = db.get(Run, run_id)
            assert all(b["dataset"].id != run.dataset_id or not b["entries"] for b in per_dataset(db))
            assert rank_on_dataset(db, run) == (1, 1)  # ranked among the scenario's players
        # The instructor's list counts the player and shows the board too.
        assert '<td data-label="Players">1</td>' in prof.get("/instructor/scenarios").text
        assert "Ada Lovelace" in prof.get(f"{link}/leaderboard").text


def test_scenario_pages_while_the_dataset_prepares(tmp_path):
    with game(f"sqlite:///{tmp_path}/prep.sqlite3") as player:
        # Created without handing its baselines to the runner: the dataset stays "pending" for this test.
        with player.app.state.session_factory() as db:
            scenario, created = scenarios.create_scenario(db, {**LR_ONLY, "seed": "11"}, "tiny", "prof")
            token = scenario.token
            db.commit()
        assert created
        ready_player(player)
        page = player.client.get(f"/s/{token}").text
        assert "Preparing the dataset" in page and 'http-equiv="refresh"' in page
        assert re.search(r'<button type="submit" class="primary"\s+disabled>Start</button>', page)
        response = player.client.post(f"/s/{token}/runs", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == f"/s/{token}"
        with player.app.state.session_factory() as db:
            assert db.scalar(select(Run.id).where(Run.scenario_id == scenario.id)) is None
            db.get(DatasetRecord, scenario.dataset_id).baseline_status = "failed"
            db.commit()
        # The board shows the baselines as computing, and says no one has finished.
        board = player.client.get(f"/s/{token}/leaderboard").text
        assert "computing…" in board and "No one has finished this scenario yet" in board
        # A dataset whose baselines failed: a clear message, and Start is refused.
        assert "could not be prepared" in player.client.get(f"/s/{token}").text
        response = player.client.post(f"/s/{token}/runs")
        assert response.status_code == 409 and "could not be prepared" in response.text


def test_pool_runs_ignore_scenario_rules(tmp_path):
    """A pool run (no scenario) is unaffected: pin_configuration returns the form, check_action allows everything."""
    from engine.actions import Action

    with game(f"sqlite:///{tmp_path}/pool.sqlite3") as player:
        with player.app.state.session_factory() as db:
            run = Run(student_pk=1, dataset_id=1, seed=1, status="configuring", initial_config={}, config={})
            form = {"width": "128"}
            assert rules.pin_configuration(db, run, form) is form
            assert rules.check_action(db, run, Action("continue", (("width", "up"),))) is None
            assert rules.view(db, run) is None
