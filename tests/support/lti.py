"""The tool's side of LTI 1.3 against the local platform (tests/lti_platform.py): registering it, the OIDC login
and launch, and an app over HTTPS with a player for grade passback."""

from __future__ import annotations

import json
from contextlib import contextmanager

from app.factory import create_app
from app.lti.platforms import PlatformInput, save_platform
from tests.lti_platform import Platform, auth_params, login_query
from tests.webutil import GameTestClient, Player
from tests.webutil import test_settings as settings_for


def register(app, platform: Platform) -> None:
    given = platform.registration()
    with app.state.session_factory() as db:
        save_platform(db, PlatformInput(**{**given, "deployment_ids": [given["deployment_ids"]]}))
        db.commit()


def start_login(client, platform: Platform, **params):
    """The platform's OIDC login initiation; returns the tool's redirect."""
    return client.get("/lti/login", params={**login_query(platform), **params}, follow_redirects=False)


def launch(client, platform: Platform, mutate=None, sign=None, **claims):
    """OIDC login, then the launch POST with an id_token for the tool's nonce; returns (login, launch) responses."""
    login = start_login(client, platform)
    assert login.status_code == 302, login.text
    sent = auth_params(login.headers["location"])
    body = platform.claims(sent["nonce"], **claims)
    if mutate:
        mutate(body)
    token = (sign or platform.sign)(body)
    response = client.post("/lti/launch", data={"id_token": token, "state": sent["state"]}, follow_redirects=False)
    return login, response, token, sent


@contextmanager
def tool_with_player(database_url: str, **overrides):
    """The app over HTTPS with quick grade retries, and a Player bound to it."""
    app = create_app(settings_for(database_url, grade_retry_seconds=0.5, **overrides))
    with GameTestClient(app, base_url="https://testserver") as client:
        yield app, Player(client, app)


def score_posts(platform: Platform) -> list[dict]:
    """The score bodies the platform received (its gradebook), oldest first."""
    return [json.loads(body) for path, _, body in platform.received if path.endswith("/scores")]


def play_one_run(player: Player) -> int:
    """Survey, one trained epoch, Done; returns the run id."""
    assert player.survey().status_code == 200
    run_id = player.start()
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)
    player.play_ready(run_id, kind="done")
    return run_id


