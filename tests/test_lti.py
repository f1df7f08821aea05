"""LTI 1.3 against a local platform (tests/lti_platform.py): registration, OIDC login, launch, refusals."""

from __future__ import annotations

import json
from contextlib import contextmanager

import jwt
import pytest
from sqlalchemy import func, select

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.cli import main as cli_main
from app.factory import create_app
from app.lti.models import LtiContext, LtiPlatform, LtiToolKey
from app.lti.services import access_token
from app.staff.models import StaffAccount
from app.staff.service import create_account
from tests.lti_platform import INSTRUCTOR, TEACHING_ASSISTANT, Platform, auth_params, new_key
from tests.support.lti import launch, register, start_login
from tests.webutil import GameTestClient
from tests.webutil import test_settings as settings_for


@contextmanager
def tool(database_url: str):
    """The app over HTTPS (its LTI cookies are Secure), with a test client."""
    app = create_app(settings_for(database_url))
    with GameTestClient(app, base_url="https://testserver") as client:
        yield app, client


def cookie_headers(response, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(name)]


def test_oidc_login_redirects_to_the_platform_with_state_and_nonce(database_url, lms):
    with tool(database_url) as (app, client):
        register(app, lms)
        response = start_login(client, lms)
        assert response.status_code == 302
        assert response.headers["location"].startswith(lms.url + "/auth?")
        sent = auth_params(response.headers["location"])
        assert sent["state"].startswith("state-") and len(sent["nonce"]) >= 32
        assert sent["redirect_uri"] == "https://testserver/lti/launch" and sent["client_id"] == lms.client_id
        assert sent["login_hint"] == "student-1" and sent["response_mode"] == "form_post"
        (state_cookie,) = cookie_headers(response, "lti1p3-" + sent["state"])
        assert "SameSite=None" in state_cookie and "Secure" in state_cookie and "Partitioned" in state_cookie


def test_student_launch_lands_in_the_game_signed_in(database_url, lms):
    with tool(database_url) as (app, client):
        register(app, lms)
        _, response, _, _ = launch(client, lms, name="Grace Hopper")
        assert response.status_code == 303 and response.headers["location"] == "/"
        (session_cookie,) = cookie_headers(response, "hyperquest_session=")
        assert "SameSite=None" in session_cookie and "Secure" in session_cookie and "Partitioned" in session_cookie
        home = client.get("/", follow_redirects=False)
        assert home.headers["location"] in ("/survey", "/consent")
        survey = client.get(home.headers["location"])
        assert survey.status_code == 200 and "What is your current education status?" in survey.text
        # Framable by the platform (and no one else); a plain visit stays unframable.
        policy = survey.headers["content-security-policy"]
        assert f"frame-ancestors 'self' {lms.url}" in policy and "x-frame-options" not in survey.headers
        with app.state.session_factory() as db:
            student = db.scalar(select(Student).where(Student.role != "bot"))
            context = db.scalar(select(LtiContext))
            assert student.name == "Grace Hopper" and student.student_id.startswith("lti:")
            assert student.class_id == context.class_id != 1 and context.title == "CS231n"
            assert context.ags["lineitems"].endswith("/scores/course-1/lineitems")
            assert db.get(ClassSettings, context.class_id).pool_size == app.state.settings.pool_size
        # A second launch of the same user in the same course is the same player.
        _, again, _, _ = launch(client, lms, name="Grace Hopper")
        assert again.status_code == 303
        with app.state.session_factory() as db:
            # (The default class's pool may meanwhile have created the baselines' bot: players only.)
            assert db.scalar(select(func.count()).select_from(Student).where(Student.role != "bot")) == 1


@pytest.mark.parametrize("role", [INSTRUCTOR, TEACHING_ASSISTANT])
def test_instructor_launch_lands_on_the_dashboard_of_the_course_class(database_url, lms, role):
    with tool(database_url) as (app, client):
        register(app, lms)
        _, response, _, _ = launch(client, lms, sub="teacher-1", roles=[role])
        assert response.status_code == 303 and response.headers["location"] == "/instructor"
        assert client.get("/instructor").status_code == 200
        with app.state.session_factory() as db:
            staff = db.scalar(select(StaffAccount))
            assert staff.role == "instructor" and staff.class_id == db.scalar(select(LtiContext)).class_id


def test_each_course_is_its_own_class(database_url, lms):
    with tool(database_url) as (app, client):
        register(app, lms)
        assert launch(client, lms, context_id="course-A")[1].status_code == 303
        assert launch(client, lms, context_id="course-B")[1].status_code == 303
        with app.state.session_factory() as db:
            contexts = db.scalars(select(LtiContext).order_by(LtiContext.id)).all()
            assert [c.context_id for c in contexts] == ["course-A", "course-B"]
            assert len({c.class_id for c in contexts}) == 2
            assert all(db.get(ClassSettings, c.class_id) is not None for c in contexts)
            players = db.scalars(select(Student).where(Student.role != "bot"))
            assert sorted(s.class_id for s in players) == sorted(c.class_id for c in contexts)


def _wrong_key(platform):
    other = new_key()
    return lambda body: platform.sign(body, key=other)  # same kid, another key: a forged token


@pytest.mark.parametrize("case, status, message", [
    ("tampered", 401, "signature does not match the platform"),
    ("forged", 401, "signature does not match the platform"),
    ("audience", 401, "wrong audience"),
    ("expired", 401, "has expired"),
    ("deployment", 403, "unknown deployment"),
])
def test_bad_launch_tokens_are_refused_with_a_clear_message(database_url, lms, case, status, message):
    with tool(database_url) as (app, client):
        register(app, lms)
        options = {
            "tampered": {"sign": lambda body: _tamper(lms.sign(body))},
            "forged": {"sign": _wrong_key(lms)},
            "audience": {"mutate": lambda body: body.update(aud="another-tool", azp="another-tool")},
            "expired": {"lifetime": -120},
            "deployment": {"mutate": lambda body: body.update({
                "https://purl.imsglobal.org/spec/lti/claim/deployment_id": "dep-unknown"})},
        }[case]
        _, response, _, _ = launch(client, lms, **options)
        assert response.status_code == status and message in response.text.lower(), response.text[-600:]
        assert "Traceback" not in response.text
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"  # nobody signed in


def _tamper(token: str) -> str:
    """The token with its payload changed (sub) but the signature kept."""
    header, payload, signature = token.split(".")
    body = json.loads(jwt.utils.base64url_decode(payload))
    body["sub"] = "someone-else"
    return ".".join((header, jwt.utils.base64url_encode(json.dumps(body).encode()).decode(), signature))


def test_a_replayed_launch_is_refused(database_url, lms):
    with tool(database_url) as (app, client):
        register(app, lms)
        _, first, token, sent = launch(client, lms)
        assert first.status_code == 303
        again = client.post("/lti/launch", data={"id_token": token, "state": sent["state"]}, follow_redirects=False)
        assert again.status_code == 403 and "already used" in again.text


def test_unknown_platform_is_refused(database_url, lms):
    with tool(database_url) as (app, client):
        response = start_login(client, lms)
        assert response.status_code == 403 and "unknown platform" in response.text.lower()
        register(app, lms)
        with Platform() as stranger:  # registered nowhere; posts a token straight to the launch URL
            login = start_login(client, lms)
            sent = auth_params(login.headers["location"])
            token = stranger.sign(stranger.claims(sent["nonce"]))
            refused = client.post("/lti/launch", data={"id_token": token, "state": sent["state"]}, follow_redirects=False)
            assert refused.status_code == 403 and "unknown platform" in refused.text.lower()


def test_missing_state_cookie_offers_a_new_tab(database_url, lms):
    with tool(database_url) as (app, client):
        register(app, lms)
        login = start_login(client, lms)
        sent = auth_params(login.headers["location"])
        client.cookies.clear()  # what a browser that blocks the iframe's cookies sends back: none
        token = lms.sign(lms.claims(sent["nonce"]))
        page = client.post("/lti/launch", data={"id_token": token, "state": sent["state"]}, follow_redirects=False)
        assert page.status_code == 200 and "Open HyperQuest in a new tab" in page.text
        assert 'target="_blank"' in page.text and 'action="/lti/login"' in page.text
        assert 'name="login_hint" value="student-1"' in page.text and 'name="lti1p3_new_window"' in page.text


def test_the_launch_is_accepted_from_the_platform_origin(database_url, lms):
    """A real LMS posts the launch from its own site; the site's cross-site Origin check must let it in."""
    with tool(database_url) as (app, client):
        register(app, lms)
        login = start_login(client, lms)
        sent = auth_params(login.headers["location"])
        token = lms.sign(lms.claims(sent["nonce"]))
        response = client.post("/lti/launch", data={"id_token": token, "state": sent["state"]},
                               headers={"Origin": lms.url}, follow_redirects=False)
        assert response.status_code == 303, response.text[-400:]
        # Everywhere else a cross-site post is still refused.
        assert client.post("/logout", headers={"Origin": lms.url}, follow_redirects=False).status_code == 403


def test_normal_login_cookie_stays_lax(tmp_path):
    with tool(f"sqlite:///{tmp_path}/lax.sqlite3") as (app, client):
        response = client.post("/login", data={"student_id": "s1", "name": "Ada"}, follow_redirects=False)
        (session_cookie,) = cookie_headers(response, "hyperquest_session=")
        assert "SameSite=Lax" in session_cookie and "Partitioned" not in session_cookie
        page = client.get("/survey")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"


def test_jwks_serves_the_public_key_only_and_keeps_it(tmp_path):
    url = f"sqlite:///{tmp_path}/keys.sqlite3"
    with tool(url) as (app, client):
        first = client.get("/lti/jwks.json").json()
    with tool(url) as (app, client):
        second = client.get("/lti/jwks.json").json()
        with app.state.session_factory() as db:
            assert db.scalar(select(func.count()).select_from(LtiToolKey)) == 1
    assert first == second and len(first["keys"]) == 1
    (key,) = first["keys"]
    assert set(key) == {"kty", "kid", "alg", "use", "n", "e"} and key["kty"] == "RSA" and key["alg"] == "RS256"


def test_access_token_request_is_signed_with_the_tool_key(tmp_path, lms):
    """The client-credentials grant grade passback will use: a JWT the platform can check with the tool's JWKS."""
    with tool(f"sqlite:///{tmp_path}/ags.sqlite3") as (app, client):
        register(app, lms)
        key_set = client.get("/lti/jwks.json").json()
        with app.state.session_factory() as db:
            platform_id = db.scalar(select(LtiPlatform.id))
            token = access_token(db, platform_id, ["https://purl.imsglobal.org/spec/lti-ags/scope/score"])
    assert token.startswith("token-")
    (path, _, body), = [r for r in lms.received if r[0] == "/token"]
    form = dict(pair.split("=", 1) for pair in body.split("&"))
    assertion = form["client_assertion"]
    public = jwt.PyJWK(key_set["keys"][0]).key
    claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=lms.url + "/token")
    assert claims["iss"] == claims["sub"] == lms.client_id
    assert jwt.get_unverified_header(assertion)["kid"] == key_set["keys"][0]["kid"]


def test_registration_page_and_form(tmp_path, lms):
    with tool(f"sqlite:///{tmp_path}/page.sqlite3") as (app, client):
        with app.state.session_factory() as db:
            create_account(db, "prof", "a long staff password", "instructor")
            db.commit()
        assert client.get("/instructor/lti", follow_redirects=False).headers["location"] == "/staff/login"
        client.post("/staff/login", data={"username": "prof", "password": "a long staff password"})
        page = client.get("/instructor/lti")
        assert "https://testserver/lti/login" in page.text and "https://testserver/lti/jwks.json" in page.text
        form = {**lms.registration(), "key_set_url": "not a url"}
        bad = client.post("/instructor/lti/platforms", data=form)
        assert bad.status_code == 422 and "key set URL must be an http(s) URL" in bad.text
        saved = client.post("/instructor/lti/platforms", data={**form, "key_set_url": lms.url + "/jwks",
                                                               "deployment_ids": "dep-1, dep-2"})
        assert saved.status_code == 200 and "Platform saved" in saved.text and lms.issuer in saved.text
        with app.state.session_factory() as db:
            assert db.scalar(select(LtiPlatform)).deployment_ids == ["dep-1", "dep-2"]


def test_cli_add_platform_list_and_tool_urls(tmp_path, monkeypatch, capsys, lms):
    monkeypatch.setenv("HYPERQUEST_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    reg = lms.registration()
    args = ["lti", "add-platform", "--issuer", reg["issuer"], "--client-id", reg["client_id"], "--deployment-id", "dep-1",
            "--auth-login-url", reg["auth_login_url"], "--auth-token-url", reg["auth_token_url"],
            "--key-set-url", reg["key_set_url"], "--name", "Test LMS"]
    assert cli_main(args) == 0 and "added platform 'Test LMS'" in capsys.readouterr().out
    assert cli_main([*args, "--deployment-id", "dep-2"]) == 0 and "updated platform" in capsys.readouterr().out
    assert cli_main(["lti", "list"]) == 0
    assert f"Test LMS\t{reg['issuer']}\thq-client\tdep-1,dep-2" in capsys.readouterr().out
    bad = [*args[:3], "ftp://nope", *args[4:]]
    assert cli_main(bad) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "issuer must be an http(s) URL" in err[0]
    assert cli_main(["lti", "tool-urls", "--base-url", "https://hq.example.edu/"]) == 0
    out = capsys.readouterr().out
    assert "https://hq.example.edu/lti/login" in out and "https://hq.example.edu/lti/jwks.json" in out
