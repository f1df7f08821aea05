"""Fuzzing with Hypothesis: every form and every GET/JSON endpoint, odd paths and headers, never a 500.

One app per module (SQLite, a one-dataset pool): a logged-in student with a trained run, an
instructor, a researcher and an anonymous visitor, each with its own client on the same app. Each
test draws payloads from random subsets of the real field names plus junk names, with values that
are sometimes the real choices (so requests get past validation into the handlers) and otherwise
unicode, empty, very long, numbers written oddly, or several values for one field. Requests carry
the session's CSRF token most of the time, and sometimes none, a wrong one, or one in the header.

The clients re-raise any exception the app does not turn into a page (TestClient's default), so a
crash fails the test with the app's own traceback; every response is also checked for a status
under 500, no "Traceback" and no Python source in the body.

The bugs fuzzing found (actions on an unconfigured run, a malformed Origin, a non-ASCII
Content-Length, ids beyond 64 bits) have regression tests at the end of the file.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
from unittest import mock
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from itsdangerous import Signer
from sqlalchemy import select
from starlette.testclient import TestClient

from app.accounts.survey import QUESTIONS
from app.classroom.service import class_settings
from app.datasets.models import BASELINES_JOB, DatasetRecord
from app.jobs import registry
from app.paths import STATIC
from app.runs.models import ENDED, FAILED, Run
from app.security.sessions import COOKIE_NAME
from app.settings import Settings
from app.staff.service import create_account
from engine.config import INITIAL_CHOICES, KNOBS
from engine.datasets import FAMILIES
from tests.webutil import BACKENDS, GameTestClient, Player, backend_url, game

PASSWORD = "correct horse battery"
STUDENT_ID, STUDENT_NAME = "s1", "Ada Lovelace"


def fuzz(examples: int):
    """Hypothesis settings for this module: few examples, no deadline, no example database on disk."""
    return settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                           HealthCheck.large_base_example])


# ----------------------------------------------------------------------------- values and forms

#: Any unicode text (surrogates excluded: they cannot be encoded), empty included.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
#: Strings that look like numbers to someone, and break naive parsing.
NUMBERS = st.sampled_from(["nan", "NaN", "inf", "-inf", "-0", "0", "1e309", "1e-400", "\u00b2", "\u0663", "0x10", "1_000",
                           " 7 ", "3.0", "-1", "0.1", str(2**64), "9" * 4400])
#: Long values, 100 to 5000 characters.
LONG = st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "\u00e9", "0", "<", "%"]), st.integers(100, 5000))
JUNK_NAME = st.one_of(TEXT.filter(bool), st.sampled_from(["csrf_token", "kind[]", "__proto__", "a" * 300, "width ", "LR"]))
JUNK_VALUE = st.one_of(TEXT, NUMBERS, LONG)


def pick(options) -> st.SearchStrategy[str]:
    """One of the real choices, written as a form would send it."""
    return st.sampled_from([str(o) for o in options])


def form(good: dict, multiple: tuple[str, ...] = (), junk: float = 0.1) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A form as (name, value) pairs: each real field usually present, usually a real value (so requests reach
    deep code paths), sometimes junk; multi-value fields repeated; plus junk fields with probability ``junk``."""

    @st.composite
    def build(draw):
        pairs = []
        for name, strategy in good.items():
            if draw(st.integers(0, 9)) == 0:
                continue  # the field is missing
            for _ in range(draw(st.integers(1, 3)) if name in multiple else 1):
                pairs.append((name, draw(strategy) if draw(st.integers(0, 3)) else draw(JUNK_VALUE)))
        while draw(st.floats(0, 1)) < junk:
            pairs.append((draw(JUNK_NAME), draw(JUNK_VALUE)))
        return pairs

    return build()


# Path ids: small, negative, 64-bit edges, non-numeric, percent-encoded text.
PATH_IDS = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.sampled_from(["0", "-1", str(2**31), str(2**63 - 1), str(-(2**63)), "1e3", "0x1", "1.0", "1.5", "+1", "%201",
                     "\u0661", "null", "None", "true", "..", "%2e%2e", "1%00", "1;2", "1%2F2", "~1", "-0", "00001"]),
    st.integers(-(10**40), 10**40).map(str),  # far beyond what a database integer holds: a 404, never a crash
    TEXT.filter(bool).map(lambda s: quote(s, safe="")),
)

CSRF_MODES = st.sampled_from(["valid"] * 14 + ["missing", "wrong", "header", "duplicate", "empty"])
ENCODINGS = st.sampled_from(["urlencoded"] * 6 + ["multipart", "multipart", "garbage"])
GARBAGE_TYPES = st.sampled_from([
    "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=xyz",
    "multipart/form-data; boundary=", "text/plain", "application/json", "application/x-www-form-urlencoded; charset=latin-1",
])
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


# ----------------------------------------------------------------------------- requests and checks

SOURCE_MARKERS = ("from __future__ import annotations", "def create_app", "import sqlalchemy", "secret_key")


def check(response, what: str = "") -> int:
    """Never a server error, a traceback or Python source; returns the status (recorded as a Hypothesis event)."""
    label = what or f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{label} -> {response.status_code}\n{response.text[:3000]}"
    body = response.text
    assert "Traceback" not in body, f"{label} shows a traceback:\n{body[:3000]}"
    for marker in SOURCE_MARKERS:
        assert marker not in body, f"{label} returned source code ({marker!r})"
    try:
        event(f"status {response.status_code}")  # shown by --hypothesis-show-statistics
    except InvalidArgument:  # called outside a Hypothesis example
        pass
    return response.status_code


def token(client: TestClient) -> str:
    response = client.get("/session/csrf")
    check(response)
    return response.json()["csrf_token"]


def send(client: TestClient, url: str, pairs, csrf: str = "valid", encoding: str = "urlencoded", *,
         headers: dict | None = None, garbage: bytes = b"", garbage_type: str = ""):
    """POST a form exactly as drawn (bypassing the CSRF helper), with the token as ``csrf`` says."""
    pairs = [(str(k), str(v)) for k, v in pairs]
    headers = dict(headers or {})
    if csrf in ("valid", "header", "duplicate"):
        real = token(client)
        if csrf == "valid":
            pairs.append(("csrf_token", real))
        elif csrf == "header":
            headers["x-csrf-token"] = real
        else:
            pairs += [("csrf_token", "not-the-token"), ("csrf_token", real)]
    elif csrf == "wrong":
        pairs.append(("csrf_token", "A" * 43))
    elif csrf == "empty":
        pairs.append(("csrf_token", ""))
    post = TestClient.post  # not CsrfMixin.post: the token is exactly what was drawn
    if encoding == "multipart":
        fields: dict[str, list[str]] = collections.defaultdict(list)
        for key, value in pairs:
            fields[key].append(value)
        # A file part too (multipart needs one here), named like a field when there is one: an upload where text is expected.
        files = {pairs[0][0] if pairs else "upload": ("fuzz.bin", garbage or b"\x00\xff", "application/octet-stream")}
        return post(client, url, data=dict(fields), files=files, headers=headers, follow_redirects=False)
    if encoding == "garbage":
        headers["content-type"] = garbage_type
        return post(client, url, content=garbage, headers=headers, follow_redirects=False)
    headers.setdefault("content-type", "application/x-www-form-urlencoded")
    return post(client, url, content=urlencode(pairs).encode(), headers=headers, follow_redirects=False)


@st.composite
def transport(draw):
    """How a form travels: CSRF mode, encoding and (for 'garbage') a raw body and content type."""
    return {"csrf": draw(CSRF_MODES), "encoding": draw(ENCODINGS), "garbage": draw(st.binary(max_size=300)),
            "garbage_type": draw(GARBAGE_TYPES)}


# ----------------------------------------------------------------------------- the app under test


@dataclasses.dataclass
class World:
    app: object
    player: Player
    run_id: int  # the student's run that the actions fuzzer plays (replaced when it ends)
    configuring_id: int  # a run of the student's waiting for its configuration
    other_run_id: int  # another student's run
    bot_run_id: int
    student_pk: int
    other_student_pk: int
    instructor: GameTestClient
    researcher: GameTestClient
    anon: GameTestClient
    renewals: int = 0
    class_row: tuple = ()  # the class settings as the fixture found them

    @property
    def student(self) -> GameTestClient:
        return self.player.client

    def client(self, role: str) -> GameTestClient:
        return {"student": self.student, "instructor": self.instructor, "researcher": self.researcher,
                "anon": self.anon}[role]

    def ensure_student(self) -> None:
        """Log the student back in (another test may have changed who the student client is)."""
        response = self.student.post("/login", data={"student_id": STUDENT_ID, "name": STUDENT_NAME}, follow_redirects=False)
        assert response.status_code == 303, response.text

    def run(self, run_id: int) -> Run:
        return self.player.run(run_id)

    def student_run_ids(self) -> list[int]:
        with self.app.state.session_factory() as db:
            return list(db.scalars(select(Run.id).where(Run.student_pk == self.student_pk).order_by(Run.id)))

    def fresh_trained_run(self) -> int:
        run_id = self.player.start()
        assert self.player.configure(run_id).status_code == 303
        self.player.wait_ready(run_id)
        return run_id

    def reset_class(self) -> None:
        with self.app.state.session_factory() as db:
            row = class_settings(db, self.app.state.settings)
            row.class_code, row.pool_size, row.allowed_families, row.reveal_test_accuracy = self.class_row
            db.commit()


def staff_client(app, username: str, role: str) -> GameTestClient:
    with app.state.session_factory() as db:
        create_account(db, username, PASSWORD, role)
        db.commit()
    client = GameTestClient(app)
    response = client.post("/staff/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    overrides = {"pool_size": 1}
    if "rate_limits_enabled" in Settings.model_fields:
        overrides["rate_limits_enabled"] = False  # fuzz the handlers, not the rate limiter's 429
    with backend_url(request.param, tmp_path_factory.mktemp("fuzz")) as url, game(url, **overrides) as player:
        app = player.app
        # Another student with a run (for "someone else's run": 403).
        other = Player(GameTestClient(app), app)
        assert other.login("s2", "Grace Hopper").status_code == 200
        assert other.survey().status_code == 200
        other_run_id = other.start()
        # The student: logged in, survey done, one run trained one epoch, one run waiting for its configuration.
        assert player.login(STUDENT_ID, STUDENT_NAME).status_code == 200
        assert player.survey().status_code == 200
        world = World(app=app, player=player, run_id=0, configuring_id=0, other_run_id=other_run_id, bot_run_id=0,
                      student_pk=0, other_student_pk=other.run(other_run_id).student_pk,
                      instructor=staff_client(app, "fuzz-instructor", "instructor"),
                      researcher=staff_client(app, "fuzz-researcher", "researcher"), anon=GameTestClient(app))
        world.run_id = world.fresh_trained_run()
        world.configuring_id = player.start()
        run = world.run(world.run_id)
        world.student_pk = run.student_pk
        with app.state.session_factory() as db:
            world.bot_run_id = db.get(DatasetRecord, run.dataset_id).bot_run_id
            row = class_settings(db, app.state.settings)
            world.class_row = (row.class_code, row.pool_size, list(row.allowed_families), row.reveal_test_accuracy)
        assert world.bot_run_id
        yield world


def path_id(data, main: int, *others: int) -> str:
    """Mostly the id the test is about (so the handler goes deep), sometimes other real ids, otherwise anything."""
    roll = data.draw(st.integers(0, 99), label="path id kind")
    if roll < 60:
        return str(main)
    if roll < 75 and others:
        return data.draw(st.sampled_from([str(k) for k in others]), label="path id")
    return data.draw(PATH_IDS, label="path id")


# ----------------------------------------------------------------------------- forms


def test_fuzz_student_login(world):
    client = GameTestClient(world.app)
    statuses = collections.Counter()
    good = {"student_id": st.one_of(st.from_regex(r"[A-Za-z0-9._-]{1,64}", fullmatch=True), st.just("s1")),
            "name": st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=120),
            "class_code": st.sampled_from(["", "abc-1", " ABC-1 "])}

    @fuzz(150)
    @given(pairs=form(good), how=transport(), code=st.sampled_from([None, None, "abc-1"]))
    def run(pairs, how, code):
        if code:
            with world.app.state.session_factory() as db:
                class_settings(db, world.app.state.settings).class_code = code
                db.commit()
        try:
            statuses[check(send(client, "/login", pairs, **how))] += 1
        finally:
            world.reset_class()

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[303] and statuses[422], statuses  # both accepted and refused logins were reached


def test_fuzz_survey(world):
    client = GameTestClient(world.app)
    statuses = collections.Counter()
    good = {q["name"]: pick(q["options"]) for q in QUESTIONS}
    counter = iter(range(10**6))

    @fuzz(100)
    @given(pairs=form(good, multiple=("network_types",), junk=0.25), how=transport(), logged_in=st.sampled_from([True] * 5 + [False]))
    def run(pairs, how, logged_in):
        client.cookies.clear()
        if logged_in:  # a new student each time, so the survey has not been answered yet
            response = client.post("/login", data={"student_id": f"fz-{next(counter)}", "name": "Fuzz"}, follow_redirects=False)
            assert response.status_code == 303
        statuses[check(send(client, "/survey", pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[422], statuses


def test_fuzz_start_run(world):
    statuses = collections.Counter()

    @fuzz(30)
    @given(pairs=form({}), how=transport())
    def run(pairs, how):
        world.ensure_student()
        statuses[check(send(world.student, "/runs", pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[303], statuses


def test_fuzz_configure(world):
    statuses = collections.Counter()

    def written(options):
        return st.sampled_from([f"{o:g}" for o in options] + [str(o) for o in options] + [f" {o} " for o in options])

    good = {knob: written(options) for knob, options in INITIAL_CHOICES.items()}

    @fuzz(120)
    @given(data=st.data(), pairs=form(good, junk=0.25), how=transport())
    def run(data, pairs, how):
        world.ensure_student()
        if world.run(world.configuring_id).status != "configuring":  # the last one was accepted: a new run
            world.configuring_id = world.player.start()
        run_id = path_id(data, world.configuring_id, world.run_id, world.other_run_id, world.bot_run_id)
        statuses[check(send(world.student, f"/runs/{run_id}/configure", pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[422] and statuses[404], statuses


def test_fuzz_training_actions(world):
    statuses = collections.Counter()
    directions = st.sampled_from(["up", "down", "same", ""])
    kinds = st.sampled_from(["continue"] * 5 + ["revert"] * 2 + ["done", "Continue"])  # junk values add more bad kinds

    @fuzz(200)
    @given(data=st.data(), how=transport(), settle=st.booleans())
    def run(data, how, settle):
        world.ensure_student()
        run = world.run(world.run_id)
        if run.status in (ENDED, FAILED) and world.renewals < 15:  # keep a live run most of the time
            world.run_id, world.renewals = world.fresh_trained_run(), world.renewals + 1
        run = world.player.wait_ready(world.run_id) if settle else world.run(world.run_id)
        expected = run.actions_used + 1
        good = {"kind": kinds,
                "expected_action": st.sampled_from([str(expected)] * 6 + [f" {expected} ", f"+{expected}", str(expected - 1)]),
                **{knob: directions for knob in KNOBS}}
        # Little junk: an accepted action needs every field right, and the test needs some accepted.
        pairs = data.draw(form(good, junk=0.05), label="form")
        run_id = path_id(data, world.run_id, world.other_run_id, world.bot_run_id, world.configuring_id)
        statuses[check(send(world.student, f"/runs/{run_id}/actions", pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    world.player.wait_ready(world.run_id)
    assert statuses[409] or statuses[422] or statuses[400], statuses
    # Whatever the fuzz sent (accepted ones are rare: every field must be right), a well-formed action still goes through.
    world.player.play_ready(world.fresh_trained_run())


def test_fuzz_logouts(world):
    client = GameTestClient(world.app)
    statuses = collections.Counter()

    @fuzz(60)
    @given(pairs=form({}), how=transport(), url=st.sampled_from(["/logout", "/staff/logout"]),
           who=st.sampled_from(["student", "staff", "nobody"]))
    def run(pairs, how, url, who):
        client.cookies.clear()
        if who == "student":
            client.post("/login", data={"student_id": "fz-logout", "name": "Fuzz"}, follow_redirects=False)
        elif who == "staff":
            client.post("/staff/login", data={"username": "fuzz-instructor", "password": PASSWORD}, follow_redirects=False)
        statuses[check(send(client, url, pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[303] and statuses[403], statuses


def test_fuzz_staff_login(world):
    client = GameTestClient(world.app)
    statuses = collections.Counter()
    good = {"username": st.sampled_from(["fuzz-instructor", "fuzz-researcher", " fuzz-researcher ", "nobody-here"]),
            "password": st.sampled_from([PASSWORD] * 3 + [PASSWORD + " ", ""])}

    @fuzz(50)
    @given(pairs=form(good, junk=0.3), how=transport())
    def run(pairs, how):
        statuses[check(send(client, "/staff/login", pairs, **how))] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[401], statuses


def _small_pool(raw: str) -> bool:
    """Accepted pool sizes stay at most 3: a bigger pool would generate (and compute baselines for) many datasets."""
    try:
        return int(raw) <= 3
    except ValueError:
        return True


def test_fuzz_instructor_settings(world):
    statuses = collections.Counter()
    good = {"class_code": st.from_regex(r"[A-Za-z0-9_-]{0,64}", fullmatch=True),
            "pool_size": st.sampled_from(["1", "2", "3", " 2 ", "+1", "01"]),  # junk values bring 0, 201, 1.5...
            "families": pick(sorted(FAMILIES)),  # teacher (not offered to classes) brings a 422
            "reveal_test_accuracy": st.sampled_from(["on", "true", "1", "yes", "off", ""])}

    @fuzz(100)
    @given(pairs=form(good, multiple=("families",), junk=0.2).filter(lambda ps: all(_small_pool(v) for k, v in ps if k == "pool_size")),
           how=transport(), role=st.sampled_from(["instructor"] * 6 + ["researcher", "student", "anon"]))
    def run(pairs, how, role):
        if role == "student":
            world.ensure_student()
        try:
            statuses[check(send(world.client(role), "/instructor/settings", pairs, **how))] += 1
        finally:
            world.reset_class()

    # New pool datasets are created (that is part of the handler) but their baselines are not trained here.
    kinds = registry.load_all()
    skipped = dataclasses.replace(kinds[BASELINES_JOB], run=lambda ctx, subject_id: None)
    with mock.patch.dict(registry.KINDS, {BASELINES_JOB: skipped}):
        run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[200] and statuses[422], statuses


# ----------------------------------------------------------------------------- GET and JSON endpoints

STUDENT_RUN_PAGES = ("/runs/{id}", "/runs/{id}/configure", "/runs/{id}/result", "/runs/{id}/history.json",
                     "/runs/{id}/events")
INSTRUCTOR_PAGES = ("/instructor/students/{id}", "/instructor/runs/{id}/replay", "/instructor/runs/{id}/replay.json")
PLAIN_PAGES = ("/", "/login", "/survey", "/instructions", "/runs/new", "/leaderboard", "/healthz", "/session/csrf",
               "/staff/login", "/instructor", "/instructor/settings", "/instructor/standings.csv", "/research",
               "/research/schema.md", "/research/export.zip")
QUERY = st.lists(st.tuples(st.one_of(st.just("format"), JUNK_NAME),
                           st.one_of(st.sampled_from(["csv", "jsonl", "json", "CSV", "", "zip", "../x"]), TEXT, NUMBERS,
                                     LONG.map(lambda v: v[:1500]))), max_size=3)


def test_fuzz_get_endpoints(world):
    statuses = collections.Counter()
    world.ensure_student()
    for run_id in world.student_run_ids():
        world.player.wait_ready(run_id)  # a stream for an idle run ends at once

    @fuzz(400)
    @given(data=st.data(), template=st.sampled_from(STUDENT_RUN_PAGES + INSTRUCTOR_PAGES + PLAIN_PAGES), query=QUERY)
    def run(data, template, query):
        mine = world.student_run_ids()
        if template.startswith("/runs/"):
            natural, ids = "student", [data.draw(st.sampled_from(mine)), world.other_run_id, world.bot_run_id]
        elif template.startswith("/instructor/students/"):
            natural, ids = "instructor", [world.student_pk, world.other_student_pk, world.student_pk + 10**5]
        elif template.startswith("/instructor"):
            natural, ids = "instructor", [data.draw(st.sampled_from(mine + [world.other_run_id, world.bot_run_id]))]
        elif template.startswith("/research"):
            natural, ids = "researcher", []
        else:
            natural, ids = data.draw(st.sampled_from(["student", "instructor", "researcher", "anon"])), []
        role = data.draw(st.sampled_from([natural] * 5 + ["student", "instructor", "researcher", "anon"]), label="role")
        url = template.replace("{id}", path_id(data, *ids)) if ids else template
        if role == "student":
            world.ensure_student()
        if template.endswith("/events") and role == "student":
            for run_id in world.student_run_ids():
                world.player.wait_ready(run_id)
        response = world.client(role).get(url, params=query, follow_redirects=False)
        statuses[check(response)] += 1
        if response.status_code == 200 and url.endswith((".json", "/csrf", "/healthz")):
            response.json()  # JSON endpoints answer JSON

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[200] and statuses[404] and statuses[403], statuses


STATIC_HASHES = {hashlib.sha256(p.read_bytes()).hexdigest() for p in STATIC.rglob("*") if p.is_file()}
TRAVERSALS = st.sampled_from([
    "/static/../app/settings.py", "/static/..%2fapp%2fsettings.py", "/static/%2e%2e/app/settings.py",
    "/static/%2e%2e%2fapp%2fsettings.py", "/static/css/..%2f..%2fapp%2fsettings.py", "/static/..%5capp%5csettings.py",
    "/static/%252e%252e/app/settings.py", "/static/....//app/settings.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/static/css/hyperquest.css%00.py", "/static/%00", "/static/",
    "/static/.", "/static/css/", "/static/css", "/static/" + "a" * 5000, "/static/%c0%ae%c0%ae/app/settings.py",
    "/static/..%00/app/settings.py", "/static/~", "/static/%2e%2e/pyproject.toml", "/static/../../../../etc/passwd",
])
SEGMENTS = st.one_of(st.sampled_from(["..", ".", "%2e%2e", "%2e", "%2f", "%5c", "%00", "css", "js", "vendor", "app",
                                      "settings.py", "factory.py", "hyperquest.css", "", "~", "%20", "%ff"]),
                     TEXT.map(lambda s: quote(s, safe="")))


def test_fuzz_static_paths(world):
    statuses = collections.Counter()

    @fuzz(200)
    @given(path=st.one_of(TRAVERSALS, st.lists(SEGMENTS, max_size=8).map(lambda parts: "/static/" + "/".join(parts))),
           role=st.sampled_from(["anon", "student"]))
    def run(path, role):
        response = world.client(role).get(path, follow_redirects=False)
        statuses[check(response)] += 1
        if response.status_code == 200 and response.request.url.path.startswith("/static/"):
            digest = hashlib.sha256(response.content).hexdigest()
            assert digest in STATIC_HASHES, f"{path} served something that is not a static file"

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[404], statuses
    # The traversal check itself: a real static file is served.
    assert world.anon.get("/static/css/hyperquest.css").status_code == 200


# ----------------------------------------------------------------------------- headers


def test_fuzz_cookies_and_origins(world):
    statuses = collections.Counter()
    victim = GameTestClient(world.app)  # a throwaway student whose real cookie gets tampered with
    victim.post("/login", data={"student_id": "fz-victim", "name": "Victim"}, follow_redirects=False)
    real_cookie = victim.cookies.get(COOKIE_NAME)
    real_token = token(victim)
    signer = Signer(world.app.state.settings.secret_key, salt="hyperquest-session")
    client = GameTestClient(world.app)

    @st.composite
    def tampered(draw):
        position = draw(st.integers(0, len(real_cookie) - 1))
        return real_cookie[:position] + draw(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,")) + real_cookie[position + 1:]

    cookies = st.one_of(
        st.none(), st.just(real_cookie), tampered(), HEADER_TEXT.map(lambda s: signer.sign(s).decode()),
        HEADER_TEXT, st.just(real_cookie + "." + real_cookie), st.just("." * 200),
    )
    urls = st.one_of(
        st.none(), st.sampled_from(["http://testserver", "http://testserver/", "http://testserver/runs/1", "HTTP://TESTSERVER",
                                    "null", "", "http://evil.example", "https://testserver", "http://testserver:80",
                                    "http://testserver.evil.example", "//testserver", "testserver", "http://", "http://[",
                                    "http://[::1", "http://[::1]:80", "http://user:pw@testserver", "file:///etc/passwd",
                                    "javascript:alert(1)", "http://testserver:99999", "http://%zz"]),
        HEADER_TEXT,
    )
    content_lengths = st.one_of(st.none(), st.sampled_from([b"0", b"-1", b"abc", b"1e3", b"99999999999999999999", b" 5",
                                                            b"\xb2", b"\xb9\xb2"]))
    endpoints = st.sampled_from(["/login", "/survey", "/runs", "/runs/1/configure", "/runs/1/actions", "/logout",
                                 "/staff/login", "/staff/logout", "/instructor/settings", "GET /", "GET /leaderboard",
                                 "GET /session/csrf", "GET /runs/1", "GET /instructor", "GET /research/export.zip"])

    @fuzz(200)
    @given(cookie=cookies, raw_cookie=st.booleans(), origin=urls, referer=urls, length=content_lengths,
           endpoint=endpoints, pairs=form({"student_id": st.just("fz-hdr"), "name": st.just("Header Fuzz")}),
           csrf=st.sampled_from(["real", "real", "none", "header", "junk"]))
    def run(cookie, raw_cookie, origin, referer, length, endpoint, pairs, csrf):
        client.cookies.clear()
        headers = {}
        if cookie is not None:
            headers["cookie"] = cookie if raw_cookie else f"{COOKIE_NAME}={cookie}"
        if origin is not None:
            headers["origin"] = origin
        if referer is not None:
            headers["referer"] = referer
        if endpoint.startswith("GET "):
            statuses[check(client.get(endpoint[4:], headers=headers, follow_redirects=False))] += 1
            return
        pairs = list(pairs)
        if csrf == "real":
            pairs.append(("csrf_token", real_token))
        elif csrf == "header":
            headers["x-csrf-token"] = real_token
        elif csrf == "junk":
            pairs.append(("csrf_token", "junk"))
        body = urlencode(pairs).encode()
        headers["content-type"] = "application/x-www-form-urlencoded"
        if length is not None:
            headers["content-length"] = length
        response = TestClient.post(client, endpoint, content=body, headers=headers, follow_redirects=False)
        statuses[check(response)] += 1

    run()
    print(f"statuses: {dict(sorted(statuses.items()))}")  # shown with -s or -rP
    assert statuses[403] and (statuses[303] or statuses[200]), statuses


# ----------------------------------------------------------------------------- regressions of bugs fuzzing found


def test_ids_beyond_64_bits_are_not_found(world):
    world.ensure_student()
    for url in (f"/runs/{2**63}", f"/runs/{10**30}/history.json", f"/runs/-{10**30}/result"):
        check(world.student.get(url, follow_redirects=False))
    check(world.instructor.get(f"/instructor/students/{2**64}", follow_redirects=False))
    check(world.student.post(f"/runs/{2**63}/actions", data={"kind": "done", "expected_action": "2"}, follow_redirects=False))


def test_unicode_digit_content_length_is_refused(world):
    """'\u00b2'.isdigit() is True but int('\u00b2') fails: the body limit must refuse it (413), not crash.

    TestClient re-encodes header values as UTF-8, so this goes to the app as raw ASGI, as a server would send it.
    """
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"student_id=x&name=y", "more_body": False}

    async def send_message(message):
        sent.append(message)

    for length in (b"\xb2", b"\xb9\xb2", b"-1", b"1e3", b" 5"):
        sent.clear()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
                 "path": "/login", "raw_path": b"/login", "query_string": b"", "root_path": "", "server": ("testserver", 80),
                 "client": ("127.0.0.1", 1234), "headers": [(b"host", b"testserver"), (b"content-length", length),
                                                            (b"content-type", b"application/x-www-form-urlencoded")]}
        asyncio.run(world.app(scope, receive, send_message))
        assert sent[0]["status"] == 413, (length, sent[0]["status"])
