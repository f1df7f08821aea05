"""A scenario link survives login, consent, the survey and the instructions (HTTP), and a scenario's result page
plays the scenario again and shows its board."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.classroom.service import class_settings
from app.datasets.models import DatasetRecord
from app.runs.models import Run
from app.scenarios.models import Scenario
from tests.support.staff import instructor_client
from tests.webutil import game


def start_scenario_run(player, token: str) -> int:
    """Press Start on the scenario page until its dataset's baselines are done; the new run's id."""
    deadline = time.monotonic() + 120
    while True:  # polled in the database: Start itself is a rate-limited action
        with player.app.state.session_factory() as db:
            scenario = db.scalar(select(Scenario).where(Scenario.token == token))
            if db.get(DatasetRecord, scenario.dataset_id).baseline_status == "done":
                break
        assert time.monotonic() < deadline, "the scenario's dataset never became ready"
        time.sleep(0.2)
    started = player.client.post(f"/s/{token}/runs", follow_redirects=False)
    assert started.status_code == 303 and "/configure" in started.headers["location"], started.text
    return int(started.headers["location"].split("/")[2])


def make_scenario(player) -> str:
    with instructor_client(player) as staff:
        response = staff.post("/instructor/scenarios", data={
            "title": "Only the learning rate", "family": "shapes", "seed": "3", "pin_width": "32",
            "lock": ["width", "depth", "weight_decay"], "hide": ["dropout"]}, follow_redirects=False)
        assert response.status_code == 303, response.text
    with player.app.state.session_factory() as db:
        return db.scalar(select(Scenario.token))


def test_first_time_player_lands_back_on_the_link(tmp_path):
    with game(f"sqlite:///{tmp_path}/g.sqlite3", pool_size=1) as player:
        with player.app.state.session_factory() as db:
            row = class_settings(db, player.app.state.settings)
            row.research_enabled, row.consent_text = True, "Consent to a study."
            db.commit()
        token = make_scenario(player)
        link = f"/s/{token}"
        assert player.client.get(link, follow_redirects=False).headers["location"] == f"/login?next={link}"
        login = player.client.post("/login", data={"student_id": "new1", "name": "Ada", "next": link},
                                   follow_redirects=False)
        assert login.headers["location"] == link
        assert player.client.get(link, follow_redirects=False).headers["location"] == "/consent"
        consent = player.client.post("/consent", data={"answer": "agree"}, follow_redirects=False)
        assert consent.headers["location"] == "/survey"
        survey = player.survey()
        assert survey.url.path == link, "after the survey the player must be back on the scenario link"
        # The instructions (e.g. from the header's logo) offer the scenario rather than a pool run.
        instructions = player.client.get("/instructions").text
        assert "Only the learning rate" in instructions and f'href="{link}"' in instructions
        assert player.client.get("/", follow_redirects=False).headers["location"] == link
        start_scenario_run(player, token)
        with player.app.state.session_factory() as db:
            run = db.scalar(select(Run).order_by(Run.id.desc()))
            assert run.scenario_id is not None
        # Once a run started, nothing is pending: the instructions start a pool dataset again.
        assert "Go to the scenario" not in player.client.get("/instructions").text


def test_scenario_result_plays_the_scenario_again(tmp_path):
    with game(f"sqlite:///{tmp_path}/g.sqlite3", pool_size=1) as player:
        token = make_scenario(player)
        assert player.login("s9", "Grace").status_code == 200
        assert player.survey().status_code == 200
        run_id = start_scenario_run(player, token)
        assert player.configure(run_id, lr="0.1", depth="2").status_code == 303
        player.wait_ready(run_id)
        assert player.act(run_id, "done").status_code == 303
        player.wait_ready(run_id)
        page = player.client.get(f"/runs/{run_id}/result").text
        assert f'action="/s/{token}/runs"' in page and f'href="/s/{token}/leaderboard"' in page
        assert 'action="/runs"' not in page
