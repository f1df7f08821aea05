"""Locust scenario: simulated students each play one whole HyperQuest game, as a browser would.

Each ``Student`` logs in with a unique student ID, answers the survey, starts a dataset (retrying
while the pool still computes baselines), configures the network, then takes 6-10 Continues with
random knob moves (an occasional Revert), presses Done, opens the result page and the leaderboard,
and stops. After every Continue it does what the training page does: load the (busy) page and its
chart data, follow the server-sent events until "ready", then reload the page and the chart data.

Requests are named by route template ("/runs/[id]") so statistics group properly. The SSE waits
are reported under request type ``SSE`` (from opening the stream to the "ready" event: queueing
plus training, what the student waits for); they are not pages and are kept out of page figures.

Run it through ``bench/loadtest/run.py`` (which starts a deployment and prints a summary), or directly:
``locust -f bench/loadtest/locustfile.py --headless -u 50 -r 10 --host http://127.0.0.1:8000``.
Environment: ``LOADTEST_SUMMARY`` (a JSON file the summary is written to at the end),
``LOADTEST_TAG`` (prefix of the student IDs; random by default).
Locust stops by itself once every user has finished its game (or ``--run-time`` runs out).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import statistics
import time
import uuid

import gevent
import requests
from locust import HttpUser, constant, events, task
from locust.exception import StopUser

TAG = os.environ.get("LOADTEST_TAG") or uuid.uuid4().hex[:6]
SUMMARY_PATH = os.environ.get("LOADTEST_SUMMARY")
SSE = "SSE"
#: Longest a student waits for one epoch (queue + training) before the game counts as failed.
SSE_LIMIT_SECONDS = float(os.environ.get("LOADTEST_SSE_LIMIT", "300"))
#: Longest a student waits for the pool's baselines before giving up.
POOL_LIMIT_SECONDS = 600

# Ladders of the knobs this scenario moves (engine/ladders.py); width/depth stay small on purpose
# so that 300 players' epochs fit on a 2-core machine.
LADDERS = {
    "lr": (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0),
    "weight_decay": (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
    "dropout": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
    "width": (16, 32, 64),
    "depth": (1, 2, 4),
}
SURVEY = {
    "education": ("Undergraduate student", "Masters student", "PhD student", "Not currently in a degree program"),
    "experience_years": ("This class is my first experience", "Less than 6 months", "6 months - 1 year", "1 - 2 years", "2+ years"),
    "self_rating": ("Very inexperienced", "Some experience", "Moderately experienced", "Expert"),
}
NETWORK_TYPES = ("Fully connected networks", "Convolutional neural networks", "Networks for vision tasks")

_ids = itertools.count(1)
_records: list[tuple[str, str, float, bool]] = []  # (type, name, ms, ok)
_errors: dict[str, int] = {}
_games = {"started": 0, "completed": 0, "failed": 0, "already_trained": 0, "pool_waits": 0}


class GameError(Exception):
    """The game went somewhere a browser would not have expected."""


def route(path: str) -> str:
    """A URL path as its route template: /runs/17/result -> /runs/[id]/result."""
    return re.sub(r"/runs/\d+", "/runs/[id]", path.split("?", 1)[0])


def _error(message: str) -> None:
    _errors[message] = _errors.get(message, 0) + 1


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None, **_kwargs):
    _records.append((request_type, name, float(response_time or 0), exception is None))
    if exception is not None:
        _error(f"{request_type} {name}: {str(exception)[:160]}")


class Student(HttpUser):
    """One student playing one game, then leaving."""

    wait_time = constant(0)  # think time is inside the game (1-3 s between actions)

    def on_start(self) -> None:
        self.student_id = f"lt-{TAG}-{next(_ids)}"
        self.csrf = ""
        self.client.headers["User-Agent"] = "hyperquest-loadtest"

    # -- requests ---------------------------------------------------------------------------

    def page(self, path: str, expect: tuple[int, ...] = (200,)) -> requests.Response:
        """GET a page without following redirects; a status outside ``expect`` is a failure."""
        return self._send("GET", path, None, expect)

    def post(self, path: str, data: dict, expect: tuple[int, ...] = (303,)) -> requests.Response:
        """POST a form with the session's CSRF token."""
        return self._send("POST", path, {**data, "csrf_token": self.csrf}, expect)

    def _send(self, method, path, data, expect) -> requests.Response:
        name = route(path) + (f" [{data['kind']}]" if data and "kind" in data else "")
        with self.client.request(method, path, data=data, name=name, allow_redirects=False,
                                 catch_response=True, timeout=60) as response:
            if response.status_code in expect:
                response.success()
            else:
                detail = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text or ""))[:120].strip()
                response.failure(f"status {response.status_code} (expected {'/'.join(map(str, expect))}) {detail}")
                raise GameError(f"{method} {route(path)} answered {response.status_code}")
        return response

    def follow(self, response: requests.Response, hops: int = 4) -> requests.Response:
        """Follow 303s the way a browser does, each hop a separately named GET."""
        while response.status_code in (302, 303) and hops:
            response = self.page(response.headers["location"], expect=(200, 302, 303))
            hops -= 1
        return response

    def think(self) -> None:
        time.sleep(random.uniform(1.0, 3.0))

    # -- the game ---------------------------------------------------------------------------

    @task
    def play(self) -> None:
        _games["started"] += 1
        try:
            self.login()
            run_id = self.start_dataset()
            self.configure(run_id)
            self.train(run_id)
            self.page("/leaderboard")
            _games["completed"] += 1
        except GameError as exc:
            _games["failed"] += 1
            _error(f"game: {exc}")
        except (requests.RequestException, OSError) as exc:
            _games["failed"] += 1
            _error(f"game: {type(exc).__name__}: {str(exc)[:120]}")
        finally:
            _finished(self.environment)
        raise StopUser()

    def login(self) -> None:
        login_page = self.page("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)
        self.csrf = match.group(1) if match else self.page("/session/csrf").json()["csrf_token"]
        self.think()
        done = self.post("/login", {"student_id": self.student_id, "name": f"Load Student {self.student_id[-6:]}"})
        survey_page = self.follow(done)  # / -> /survey
        # Logging in rotates the session and its token: use the new one, from the survey form.
        match = re.search(r'name="csrf_token" value="([^"]+)"', survey_page.text)
        self.csrf = match.group(1) if match else self.page("/session/csrf").json()["csrf_token"]
        self.think()
        survey = {k: random.choice(v) for k, v in SURVEY.items()}
        survey["network_types"] = random.sample(NETWORK_TYPES, random.randint(1, 2))
        self.follow(self.post("/survey", survey))  # -> /instructions

    def start_dataset(self) -> int:
        self.think()
        deadline = time.monotonic() + POOL_LIMIT_SECONDS
        while True:
            response = self.post("/runs", {})
            location = response.headers["location"]
            match = re.search(r"/runs/(\d+)/configure", location)
            if match:
                self.follow(response)
                return int(match.group(1))
            if location != "/runs/new" or time.monotonic() > deadline:
                raise GameError(f"POST /runs sent the player to {location}")
            _games["pool_waits"] += 1
            self.follow(response)
            time.sleep(3)

    def configure(self, run_id: int) -> None:
        self.think()
        self.config = {"width": random.choice((32, 32, 64)), "depth": random.choice((2, 2, 4)),
                       "lr": random.choice((0.1, 0.01, 0.001)), "dropout": random.choice((0.0, 0.0, 0.5)),
                       "weight_decay": 0.0}
        form = {k: f"{self.config[k]:g}" for k in ("width", "lr", "depth", "dropout")}
        response = self.post(f"/runs/{run_id}/configure", form)
        self.configs = [dict(self.config)]  # the configuration of each epoch on the current path
        self.initial = dict(self.config)
        self.await_epoch(run_id, self.follow(response))

    def train(self, run_id: int) -> None:
        continues = random.randint(6, 10)
        reverted_last = False
        while continues:
            self.think()
            if not reverted_last and len(self.configs) >= 2 and random.random() < 0.12:
                self.act(run_id, "revert", {})
                self.configs.pop()
                reverted_last = True
                continue
            moves = self.moves()
            self.act(run_id, "continue", moves)
            reverted_last = False
            continues -= 1
        self.think()
        page = self.act(run_id, "done", {})
        if "/result" not in page.url:
            raise GameError("Done did not lead to the result page")

    def moves(self) -> dict[str, str]:
        """Random Same/Up/Down choices that stay on the ladders (so the server never refuses them)."""
        current = self.configs[-1]
        chosen: dict[str, str] = {}
        for knob in random.sample(list(LADDERS), random.choice((0, 1, 1, 2))):
            ladder = LADDERS[knob]
            at = min(range(len(ladder)), key=lambda i: abs(ladder[i] - current[knob]))
            options = [d for d, i in (("up", at + 1), ("down", at - 1)) if 0 <= i < len(ladder)]
            if options:
                chosen[knob] = random.choice(options)
        return chosen

    def act(self, run_id: int, kind: str, moves: dict[str, str]) -> requests.Response:
        form = {"kind": kind, "expected_action": str(self.expected)}
        form.update(moves)
        response = self.follow(self.post(f"/runs/{run_id}/actions", form))
        if kind == "continue":
            config = dict(self.configs[-1])
            for knob, direction in moves.items():
                ladder = LADDERS[knob]
                at = min(range(len(ladder)), key=lambda i: abs(ladder[i] - config[knob]))
                config[knob] = ladder[at + 1 if direction == "up" else at - 1]
            self.configs.append(config)
            self.await_epoch(run_id, response)
        elif kind == "revert":
            self.loaded(run_id, response)
        return response

    def loaded(self, run_id: int, page: requests.Response) -> bool:
        """What train.js does on load: fetch the chart data; True if the page shows a training epoch."""
        if page.status_code != 200 or 'id="train"' not in page.text:
            raise GameError(f"expected the training page, got {route(page.url)} ({page.status_code})")
        match = re.search(r'name="expected_action" value="(\d+)"', page.text)
        self.expected = int(match.group(1)) if match else getattr(self, "expected", 1) + 1
        self.page(f"/runs/{run_id}/history.json").json()
        return 'data-busy="true"' in page.text

    def await_epoch(self, run_id: int, page: requests.Response) -> None:
        """The training page after a Continue: stream progress until "ready", then reload."""
        busy = self.loaded(run_id, page)
        if not busy:
            _games["already_trained"] += 1
        for _ in range(5):
            if not busy:
                return
            self.stream_until_ready(run_id)
            busy = self.loaded(run_id, self.page(f"/runs/{run_id}"))
        raise GameError("the training page still showed a busy epoch after 5 ready events")

    def stream_until_ready(self, run_id: int) -> None:
        """Follow /runs/{id}/events until "ready"; reported as one SSE request timed to the ready event."""
        path = f"/runs/{run_id}/events"
        started = time.perf_counter()
        exception = None
        length = 0
        stopped = False
        try:
            # The plain requests call (not locust's): locust would time only the response headers.
            with requests.Session.request(self.client, "GET", self.client.base_url + path, stream=True,
                                          timeout=(10, 40), headers={"Accept": "text/event-stream"}) as response:
                if response.status_code != 200:
                    raise GameError(f"event stream answered {response.status_code}")
                event = None
                for raw in response.iter_lines(decode_unicode=True):
                    line = (raw or "").rstrip("\r")
                    length += len(line) + 1
                    if line.startswith("event:"):
                        event = line.split(":", 1)[1].strip()
                    elif line.startswith("data:") and event == "ready":
                        return
                    if time.perf_counter() - started > SSE_LIMIT_SECONDS:
                        raise GameError(f"no ready event within {SSE_LIMIT_SECONDS:.0f}s")
                raise GameError("event stream ended before ready")
        except (GameError, requests.RequestException, OSError) as exc:
            exception = exc
            raise GameError(f"SSE {route(path)}: {exc}") from None
        except BaseException:  # the time bound stopped this student mid-wait: not a measurement
            stopped = True
            raise
        finally:
            if not stopped:
                self.environment.events.request.fire(
                    request_type=SSE, name=route(path), response_time=(time.perf_counter() - started) * 1000,
                    response_length=length, exception=exception, context={}, response=None, url=path)


# -- stopping and the summary -------------------------------------------------------------------

_done = {"count": 0, "quitting": False}


def _finished(environment) -> None:
    """Quit once every user has played its game (locust would otherwise idle until --run-time)."""
    _done["count"] += 1
    target = getattr(environment.parsed_options, "num_users", None) if environment.parsed_options else None
    if target and _done["count"] >= target and not _done["quitting"] and environment.runner:
        _done["quitting"] = True
        gevent.spawn_later(1.0, environment.runner.quit)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (nearest-rank on sorted values), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q) - 1]


def summary() -> dict:
    pages = [r for r in _records if r[0] != SSE]
    streams = [r for r in _records if r[0] == SSE]
    routes: dict[str, dict] = {}
    for kind, name, ms, ok in pages:
        entry = routes.setdefault(f"{kind} {name}", {"times": [], "failures": 0})
        entry["times"].append(ms)
        entry["failures"] += not ok
    return {
        "games": dict(_games),
        "requests": len(pages),
        "failures": sum(not r[3] for r in pages) + sum(not r[3] for r in streams),
        "page_p50_ms": percentile([r[2] for r in pages], 50),
        "page_p95_ms": percentile([r[2] for r in pages], 95),
        "page_max_ms": max((r[2] for r in pages), default=None),
        "routes": {k: {"count": len(v["times"]), "failures": v["failures"], "p50_ms": percentile(v["times"], 50),
                       "p95_ms": percentile(v["times"], 95), "max_ms": max(v["times"])}
                   for k, v in sorted(routes.items())},
        "sse": {"count": len(streams), "failures": sum(not r[3] for r in streams),
                "p50_ms": percentile([r[2] for r in streams if r[3]], 50),
                "p95_ms": percentile([r[2] for r in streams if r[3]], 95),
                "max_ms": max((r[2] for r in streams if r[3]), default=None)},
        "errors": dict(sorted(_errors.items(), key=lambda kv: -kv[1])),
    }


@events.test_stop.add_listener
def _write_summary(**_kwargs) -> None:
    if SUMMARY_PATH:
        with open(SUMMARY_PATH, "w", encoding="utf-8") as handle:
            json.dump(summary(), handle, indent=1)


@events.quitting.add_listener
def _write_summary_again(**_kwargs) -> None:
    _write_summary()
