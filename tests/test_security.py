"""Sessions, CSRF, rate limits, security headers and body limits, against the real app."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from fastapi.testclient import TestClient

from app.runs.models import Run
from app.security.ratelimit import RateLimits, TooManyRequests
from app.settings import Settings
from app.staff.service import create_account
from tests.services import REDIS_URL, delete_prefix, redis_available
from tests.support.players import ready_player
from tests.webutil import game

PASSWORD = "a long staff password"
OTHER_SITE = "https://evil.example"


def raw_client(player) -> TestClient:
    """A client of the same app that does NOT add CSRF tokens by itself."""
    return TestClient(player.app)


def session_cookie(client) -> str | None:
    return client.cookies.get("hyperquest_session")


def token(client) -> str:
    return client.get("/session/csrf").json()["csrf_token"]


def test_session_cookie_is_opaque_signed_and_flagged(database_url):
    with game(database_url) as player:
        response = player.client.get("/login")
        header = response.headers["set-cookie"]
        assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
        ready_player(player, "s123")
        value = session_cookie(player.client)
        assert "s123" not in value and "student" not in value and len(value) > 40
    with game(database_url, secure_cookies=True) as player:
        assert "Secure" in player.client.get("/login").headers["set-cookie"]


def test_login_rotates_the_session_and_logout_revokes_it(database_url):
    with game(database_url) as player:
        player.client.get("/login")
        before = session_cookie(player.client)
        ready_player(player)
        after = session_cookie(player.client)
        assert before and after and before != after  # a planted pre-login session id is worthless
        assert player.client.get("/instructions").status_code == 200
        player.client.post("/logout")
        # Replaying the old cookie after logout: refused, treated as logged out.
        replay = raw_client(player)
        replay.cookies.set("hyperquest_session", after)
        response = replay.get("/instructions", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"


def test_tampered_cookie_is_rejected_and_cleared(database_url):
    with game(database_url) as player:
        ready_player(player)
        value = session_cookie(player.client)
        forged = raw_client(player)
        forged.cookies.set("hyperquest_session", value[:-3] + ("AAA" if value[-3:] != "AAA" else "BBB"))
        response = forged.get("/instructions", follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert "Max-Age=0" in response.headers["set-cookie"]
        unsigned = raw_client(player)
        unsigned.cookies.set("hyperquest_session", "made-up-session-id")
        assert unsigned.get("/instructions", follow_redirects=False).status_code == 303


def forms(player, run_id: int) -> list[tuple[str, dict]]:
    """Every state-changing form of the site with valid-looking fields."""
    return [
        ("/login", {"student_id": "s1", "name": "Ada Lovelace"}),
        ("/survey", {"education": "Masters student"}),
        ("/runs", {}),
        (f"/runs/{run_id}/configure", {"width": "32", "lr": "0.1", "depth": "2", "dropout": "0"}),
        (f"/runs/{run_id}/actions", {"kind": "continue", "expected_action": "99"}),
        ("/logout", {}),
        ("/staff/login", {"username": "prof", "password": PASSWORD}),
        ("/staff/logout", {}),
        ("/instructor/settings", {"pool_size": "3"}),
    ]


def test_every_form_refuses_a_cross_site_post(database_url):
    with game(database_url) as player:
        ready_player(player)
        run_id = player.start()
        with player.app.state.session_factory() as db:
            create_account(db, "prof", PASSWORD, "instructor")
            db.commit()
        client = raw_client(player)
        client.cookies.update(player.client.cookies)
        valid = token(player.client)
        for path, data in forms(player, run_id):
            missing = client.post(path, data=data, follow_redirects=False)
            assert missing.status_code == 403, (path, "no token", missing.status_code)
            assert "expired or did not come from this site" in missing.text
            wrong = client.post(path, data={**data, "csrf_token": "x" * 43}, follow_redirects=False)
            assert wrong.status_code == 403, (path, "wrong token")
            # A page on another site that somehow knows the token is still refused by the Origin check.
            cross = client.post(path, data={**data, "csrf_token": valid}, headers={"Origin": OTHER_SITE},
                                follow_redirects=False)
            assert cross.status_code == 403, (path, "cross-site origin")
            referred = client.post(path, data={**data, "csrf_token": valid}, follow_redirects=False,
                                   headers={"Referer": OTHER_SITE + "/page"})
            assert referred.status_code == 403, (path, "cross-site referer")
        # Nothing happened: still logged in, the run still waits for its configuration.
        assert player.client.get("/instructions").status_code == 200
        assert player.run(run_id).status == "configuring"
        # The same origin with the token works.
        same = client.post(f"/runs/{run_id}/configure", data={"width": "32", "lr": "0.1", "depth": "2", "dropout": "0",
                                                              "csrf_token": valid},
                           headers={"Origin": "http://testserver"}, follow_redirects=False)
        assert same.status_code == 303


def test_login_rate_limit_answers_429_with_a_clear_page(database_url):
    with game(database_url, rate_limit_login_per_account="3/minute") as player:
        for _ in range(3):
            assert player.login("victim", "Someone").status_code == 200
            player.client.post("/logout")
        blocked = player.login("victim", "Someone")
        assert blocked.status_code == 429 and "Too many attempts" in blocked.text
        assert player.login("another", "Someone Else").status_code == 200  # per account, not global


def test_action_rate_limit_per_student(database_url):
    with game(database_url, rate_limit_actions_per_student="5/minute") as player:
        ready_player(player)
        run_id = player.start()
        player.configure(run_id)
        player.wait_ready(run_id)
        # Start and configure were actions 1 and 2 of the 5 allowed per minute.
        codes = [player.act(run_id, expected=99).status_code for _ in range(4)]
        assert codes == [409, 409, 409, 429]


def test_login_does_not_reveal_which_student_ids_exist(database_url):
    with game(database_url) as player:
        ready_player(player, "known1")
        player.client.post("/logout")
        with player.app.state.session_factory() as db:
            from app.classroom.service import class_settings
            class_settings(db, player.app.state.settings).class_code = "code-1"
            db.commit()
        known = player.client.post("/login", data={"student_id": "known1", "name": "Ada Lovelace", "class_code": "bad"})
        unknown = player.client.post("/login", data={"student_id": "nobody9", "name": "Ada Lovelace", "class_code": "bad"})
        assert known.status_code == unknown.status_code == 422
        strip = lambda text: text.replace("known1", "X").replace("nobody9", "X")  # noqa: E731
        assert strip(known.text).split("csrf_token")[0] == strip(unknown.text).split("csrf_token")[0]
        # A known ID with another name is answered exactly like an unknown ID: a new player, who
        # cannot see or touch the first one's account.
        with player.app.state.session_factory() as db:
            from app.accounts.models import Student
            original = db.scalar(select(Student).where(Student.student_id == "known1"))
            original_runs = db.scalar(select(func.count()).select_from(Run).where(Run.student_pk == original.id))
        other = player.client.post("/login", data={"student_id": "known1", "name": "Mallory", "class_code": "code-1"},
                                   follow_redirects=False)
        fresh = player.client.post("/login", data={"student_id": "nobody9", "name": "Mallory", "class_code": "code-1"},
                                   follow_redirects=False)
        assert other.status_code == fresh.status_code == 303
        assert other.headers["location"] == fresh.headers["location"] == "/"
        assert player.client.get("/", follow_redirects=False).headers["location"] == "/survey"
        with player.app.state.session_factory() as db:
            rows = db.scalars(select(Student).where(Student.student_id == "known1").order_by(Student.id)).all()
            assert [r.name for r in rows] == ["Ada Lovelace", "Mallory"]
            assert db.scalar(select(func.count()).select_from(Run).where(Run.student_pk == original.id)) == original_runs
        # The first player comes back with their name typed differently (capitals, spaces).
        player.client.post("/login", data={"student_id": "known1", "name": "  ada   LOVELACE ", "class_code": "code-1"})
        assert player.client.get("/", follow_redirects=False).headers["location"] == "/instructions"
        with player.app.state.session_factory() as db:
            assert db.scalar(select(func.count()).select_from(Student).where(Student.student_id == "known1")) == 2


def test_security_headers_on_every_kind_of_response(database_url):
    with game(database_url) as player:
        ready_player(player)
        responses = [player.client.get(path) for path in ("/login", "/instructions", "/leaderboard", "/healthz",
                                                          "/static/css/hyperquest.css", "/no/such/page")]
        responses.append(raw_client(player).post("/logout", headers={"Origin": OTHER_SITE}))
        for response in responses:
            csp = response.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "same-origin"
            assert response.headers["x-frame-options"] == "DENY"


def test_request_body_size_limit(database_url):
    with game(database_url, max_body_bytes=4096) as player:
        big = player.client.post("/login", data={"student_id": "s1", "name": "x" * 10_000})
        assert big.status_code == 413 and "larger than 4 KiB" in big.text

        def chunks():
            for _ in range(10):
                yield b"name=" + b"y" * 1000

        streamed = raw_client(player).post("/login", content=chunks(),
                                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert streamed.status_code == 413
        assert player.login("s1").status_code == 200  # normal forms are unaffected


def test_rate_limits_are_shared_through_redis():
    if not redis_available():
        pytest.fail("Redis is not reachable at 127.0.0.1:6379 (.ci/run starts it)")
    prefix = f"hqtest-{uuid.uuid4().hex[:8]}"
    settings = Settings(redis_url=REDIS_URL, redis_prefix=prefix, rate_limit_login_per_account="2/minute")
    try:
        first, second = RateLimits(settings), RateLimits(settings)  # two web processes
        first.check("login", account="x")
        second.check("login", account="x")
        with pytest.raises(TooManyRequests):
            first.check("login", account="x")
    finally:
        delete_prefix(REDIS_URL, prefix)


def test_a_nul_character_in_any_form_field_is_a_clear_422(database_url):
    """PostgreSQL refuses NUL in text (found by the fuzz suite as a 500): every form turns it away first."""
    with game(database_url) as player:
        response = player.client.post("/login", data={"student_id": "s\x001", "name": "Ada"})
        assert response.status_code == 422 and "not allowed (NUL)" in response.text and "Traceback" not in response.text
        assert player.login().status_code == 200  # the form itself still works
        refused = player.client.post("/survey", data={"education": "Masters\x00student"})
        assert refused.status_code == 422
