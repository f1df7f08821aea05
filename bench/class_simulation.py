"""Benchmark: a class arrives while its pool prepares. What do players wait for?

Starts the game as `make run` does (embedded mode, SQLite, `small` datasets, pool of 8) on an empty
database, or scaled out (``--mode celery``: PostgreSQL, Redis and ``--workers`` Celery workers),
then plays a class over HTTP, as browsers would:

1. an instructor signs in and makes a scenario link to the pool's first image dataset (a CNN:
   ``--dataset``), so the first wave plays a convolutional network whatever else is ready;
2. wave 1 (``--players``) opens the link as soon as that dataset is playable: configure, then
   ``--continues`` Continues with ``--think`` seconds of thought each, then Done; each waits for its
   epoch over the training page's event stream and for its debrief over the result page's;
3. wave 2 (``--second-wave`` players) starts ``--second-wave-at`` seconds in with "Start a dataset";
4. once the pool is finished (baselines and reference players) both waves' script is played again
   on the quiet server: the same players on the same datasets, wave 2 starting as long after wave 1
   as it did, so the busy and quiet epochs differ only by the pool's work running beside them.

``--load`` runs another CPU-heavy process (`hyperquest calibrate`) for the whole first part.
``--source DIR`` serves another checkout's code (e.g. an older commit in a git worktree), so before
and after are measured by the same script on the same machine. Prints a summary and writes JSON:

    python bench/class_simulation.py --out after.json
    python bench/class_simulation.py --source ../before --out before.json
    python bench/class_simulation.py --mode celery --workers 2 --out celery.json

In celery mode the workers are laid out as docker-compose.cpu.yml lays them out: the first serves
only players' epochs (``--no-players-worker``: every worker serves every lane), and each trains with
its share of the cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.game_http import GameClient  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
SURVEY = {"education": "Masters student", "experience_years": "Less than 6 months",
          "self_rating": "Some experience", "network_types": ["Convolutional neural networks"]}
DEFAULT_CHOICES = {"width": "64", "lr": "0.01", "depth": "4", "dropout": "0"}


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    """Count, median, p95 and max of a list of seconds."""
    return {"n": len(values), "p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "max": max(values) if values else None}


# ----------------------------------------------------------------------------- the deployment


class Database:
    """Read-only looks at the deployment's database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str) -> list[tuple]:
        """The rows of a query; [] while the schema is not there yet."""
        try:
            if self.url.startswith("sqlite"):
                with contextlib.closing(sqlite3.connect(self.url.split("///", 1)[1], timeout=5)) as conn:
                    return conn.execute(sql).fetchall()
            import psycopg

            with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql"), connect_timeout=3) as conn:
                return conn.execute(sql).fetchall()
        except Exception:
            return []

    def has_jobs_table(self) -> bool:
        """The one-job-model schema (jobs table), or the older per-domain one."""
        if self.url.startswith("sqlite"):
            return bool(self.rows("SELECT name FROM sqlite_master WHERE type='table' AND name='jobs'"))
        return bool(self.rows("SELECT tablename FROM pg_tables WHERE tablename='jobs'"))

    def failed_by_kind(self) -> dict[str, int]:
        """Background work that failed for good, by kind (from whichever schema the served code has)."""
        if self.has_jobs_table():
            return {kind: count for kind, count in self.rows("SELECT kind, count(*) FROM jobs WHERE status='failed' GROUP BY kind")}
        counts = {
            "epoch": self.rows("SELECT count(*) FROM actions WHERE status='failed'"),
            "baselines": self.rows("SELECT count(*) FROM datasets WHERE baseline_status='failed'"),
            "references": self.rows("SELECT count(*) FROM datasets WHERE references_status='failed'"),
            "branch": self.rows("SELECT count(*) FROM branches WHERE status='failed'"),
        }
        return {kind: rows[0][0] for kind, rows in counts.items() if rows and rows[0][0]}


class Deployment:
    """The served game's processes, started from ``source`` with settings in the environment."""

    def __init__(self, args: argparse.Namespace, folder: Path) -> None:
        self.args = args
        self.folder = folder
        self.processes: list[tuple[str, subprocess.Popen]] = []
        self.logs: list[Path] = []
        self.prefix = f"hqsim-{uuid.uuid4().hex[:8]}"
        self.pg_name = None
        if args.mode == "celery":
            import psycopg

            self.pg_name = f"hq_sim_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_name}"')
            self.database_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.pg_name}"
        else:
            self.database_url = f"sqlite:///{folder / 'hyperquest.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERQUEST_")}
        self.env.update({"HYPERQUEST_DATABASE_URL": self.database_url, "PYTHONUNBUFFERED": "1",
                         "HYPERQUEST_SECRET_KEY": "class-simulation-secret", "HYPERQUEST_DATASET_SIZE": args.size,
                         "HYPERQUEST_POOL_SIZE": str(args.pool_size),
                         "HYPERQUEST_BASELINE_EPOCHS": str(args.baseline_epochs)})
        if args.mode == "celery":
            # Each worker process trains with its share of the cores, as docker-compose.cpu.yml sets it.
            threads = max(1, (os.cpu_count() or 1) // args.workers)
            self.env.update({"HYPERQUEST_REDIS_URL": REDIS_URL, "HYPERQUEST_REDIS_PREFIX": self.prefix,
                             "HYPERQUEST_TRAINING_THREADS": str(threads)})
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def hyperquest(self, *words: str) -> list[str]:
        return [self.args.python, "-m", "app.cli", *words]

    def spawn(self, name: str, command: list[str], cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        log = self.folder / f"{name}.log"
        self.logs.append(log)
        process = subprocess.Popen(command, cwd=cwd or self.args.source, env={**self.env, **(env or {})},
                                   stdout=open(log, "w"),
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append((name, process))
        return process

    def start(self) -> None:
        """Migrate, create the instructor, start the server (and workers); returns once pages answer."""
        subprocess.run(self.hyperquest("migrate"), cwd=self.args.source, env=self.env, check=True,
                       capture_output=True)
        subprocess.run(self.hyperquest("staff", "create", "prof", "--role", "instructor"), cwd=self.args.source,
                       env=self.env, input="class-simulation-password\n", text=True, check=True, capture_output=True)
        self.spawn("server", self.hyperquest("serve", "--port", str(self.port)))
        for i in range(self.args.workers if self.args.mode == "celery" else 0):
            words, env = ["worker", "--name", f"sim{i}-{self.prefix}@%h"], {}
            if i == 0 and self.args.players_worker:
                # As docker-compose.cpu.yml lays them out: one worker keeps capacity for players' epochs.
                words += ["--queues", "players", "--processes", str(self.args.players_processes)]
            elif self.args.players_worker and self.args.others_niceness is not None:
                env["HYPERQUEST_TRAINING_NICENESS"] = str(self.args.others_niceness)
            self.spawn(f"worker{i}", self.hyperquest(*words), env=env)
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start: " + (self.folder / "server.log").read_text()[-2000:])
            time.sleep(0.5)

    def locked_messages(self) -> int:
        """How often any process logged SQLite's "database is locked"."""
        return sum(log.read_text(errors="replace").count("database is locked") for log in self.logs if log.exists())

    def stop(self) -> None:
        for _, process in reversed(self.processes):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 15)
        for _, process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(60)
            if process.poll() is None:
                os.killpg(process.pid, 9)
        if self.pg_name:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                import redis

                client = redis.Redis.from_url(REDIS_URL)
                for key in client.scan_iter(f"{self.prefix}*"):
                    client.delete(key)


# ----------------------------------------------------------------------------- watching the pool


class PoolWatch(threading.Thread):
    """Notes when datasets become playable and when their reference players are done."""

    def __init__(self, database: Database, pool_size: int, started: float) -> None:
        super().__init__(daemon=True)
        self.database, self.pool_size, self.started = database, pool_size, started
        self.playable: dict[str, float] = {}
        self.references: dict[str, float] = {}
        self.passed_over: set[str] = set()
        self.stop = threading.Event()

    def rows(self) -> list[tuple]:
        """(family, seed, baseline status, references status, rejected?) of every stored dataset."""
        rows = self.database.rows("SELECT family, seed, baseline_status, references_status, rejected_reason FROM datasets")
        if rows:
            return [(f, s, b, r, rejected is not None) for f, s, b, r, rejected in rows]
        # Code from before duds were passed over has no rejected_reason column.
        return [(*row, False) for row in self.database.rows(
            "SELECT family, seed, baseline_status, references_status FROM datasets")]

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.monotonic() - self.started
            for family, seed, baseline, references, rejected in self.rows():
                ref = f"{family}:{seed}"
                if rejected:
                    self.passed_over.add(ref)
                # A passed-over dataset is not handed out, unless its family was passed over so often
                # that the pool takes it after all (then its reference players are computed).
                if baseline == "done" and (not rejected or references != "pending") and ref not in self.playable:
                    self.playable[ref] = now
                if references in ("done", "failed") and ref not in self.references:
                    self.references[ref] = now
            self.stop.wait(1.0)

    def finished(self) -> bool:
        return len(self.playable) >= self.pool_size and len(self.references) >= self.pool_size


# ----------------------------------------------------------------------------- players


class Student:
    """One simulated player over HTTP, recording what they waited for."""

    def __init__(self, base: str, name: str) -> None:
        self.http = GameClient(base_url=base, follow_redirects=False, timeout=300)
        self.name = name
        self.epochs: list[float] = []
        self.debrief: float | None = None
        self.run_id: int | None = None
        self.error: str | None = None

    def sign_in(self) -> None:
        assert self.http.post("/login", data={"student_id": self.name, "name": f"Student {self.name}"}).status_code == 303
        assert self.http.post("/survey", data=SURVEY).status_code == 303

    def start_scenario(self, token: str) -> int:
        response = self.http.post(f"/s/{token}/runs")
        if response.status_code != 303:
            raise RuntimeError(f"scenario start: {response.status_code}")
        return int(re.search(r"/runs/(\d+)", response.headers["location"]).group(1))

    def start_pool(self, deadline: float) -> int:
        while True:
            response = self.http.post("/runs")
            location = response.headers.get("location", "")
            if match := re.search(r"/runs/(\d+)/configure", location):
                return int(match.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError("no dataset became playable")
            time.sleep(2.0)

    def wait_stream(self, path: str) -> dict:
        """Follow a page's event stream until its "ready" event; returns that event's data."""
        with self.http.stream("GET", path, timeout=httpx.Timeout(600, read=600)) as stream:
            name = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and name == "ready":
                    return json.loads(line.split(":", 1)[1])
        raise RuntimeError(f"{path} ended without ready")

    def play(self, run_id: int, continues: int, think: float) -> None:
        self.run_id = run_id
        submitted = time.monotonic()
        assert self.http.post(f"/runs/{run_id}/configure", data=DEFAULT_CHOICES).status_code == 303
        self.wait_stream(f"/runs/{run_id}/events")
        self.epochs.append(time.monotonic() - submitted)
        for action in range(2, continues + 2):
            time.sleep(think)
            submitted = time.monotonic()
            response = self.http.post(f"/runs/{run_id}/actions", data={"kind": "continue", "expected_action": str(action)})
            assert response.status_code == 303, response.status_code
            self.wait_stream(f"/runs/{run_id}/events")
            self.epochs.append(time.monotonic() - submitted)
        time.sleep(think)
        submitted = time.monotonic()
        response = self.http.post(f"/runs/{run_id}/actions", data={"kind": "done", "expected_action": str(continues + 2)})
        assert response.status_code == 303, response.status_code
        self.wait_stream(f"/runs/{run_id}/debrief/events")
        self.debrief = time.monotonic() - submitted


def play_wave(students: list[Student], start, continues: int, think: float) -> None:
    """Each student starts (``start(student)`` gives the run) and plays, all at once."""

    def one(student: Student) -> None:
        try:
            student.sign_in()
            student.play(start(student), continues, think)
        except Exception as exc:  # recorded: a stuck or refused player is a finding, not a crash
            student.error = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=one, args=(s,), daemon=True) for s in students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def datasets_of(database: Database, students: list[Student]) -> list[str]:
    """The datasets (family:seed) the students' runs were on."""
    ids = [s.run_id for s in students if s.run_id is not None]
    if not ids:
        return []
    rows = database.rows("SELECT datasets.family, datasets.seed FROM runs JOIN datasets ON datasets.id = runs.dataset_id "
                         f"WHERE runs.id IN ({','.join(str(i) for i in ids)})")
    return sorted({f"{family}:{seed}" for family, seed in rows})


def instructor(base: str) -> GameClient:
    client = GameClient(base_url=base, follow_redirects=False, timeout=60)
    assert client.post("/staff/login", data={"username": "prof", "password": "class-simulation-password"}).status_code == 303
    return client


def make_scenario(client: GameClient, family: str, seed: int) -> str:
    """A scenario link to one dataset, nothing pinned or locked."""
    response = client.post("/instructor/scenarios", data={"title": "Class simulation", "family": family, "seed": str(seed)})
    assert response.status_code == 303, response.text[:500]
    return re.search(r"created=([A-Za-z0-9_-]+)", response.headers["location"]).group(1)


def replay_quietly(deployment: Deployment, database: Database, token: str, wave1: list[Student],
                   wave2: list[Student], second_wave_offset: float) -> tuple[list[Student], list[Student]]:
    """Both waves' script again on the idle server: the same datasets (wave 2 by scenario links to the
    datasets it was dealt), wave 2 starting ``second_wave_offset`` seconds after wave 1 (a negative
    offset: wave 1 starts that much later)."""
    client = instructor(deployment.base)
    runs = dict(database.rows("SELECT runs.id, datasets.family || ':' || datasets.seed FROM runs "
                              "JOIN datasets ON datasets.id = runs.dataset_id"))
    tokens: dict[str, str] = {}
    for student in wave2:
        ref = runs.get(student.run_id)
        if ref is not None and ref not in tokens:
            family, seed = ref.split(":")
            tokens[ref] = make_scenario(client, family, int(seed))
    dealt = [tokens[runs[s.run_id]] for s in wave2 if runs.get(s.run_id) in tokens]
    quiet1 = [Student(deployment.base, f"q1-{i}") for i in range(len(wave1))]
    quiet2 = [Student(deployment.base, f"q2-{i}") for i in range(len(dealt))]
    args = deployment.args

    def wave(students: list[Student], start, delay: float) -> None:
        time.sleep(max(0.0, delay))
        play_wave(students, start, args.continues, args.think)

    first = threading.Thread(target=wave, args=(quiet1, lambda s: s.start_scenario(token), -second_wave_offset),
                             daemon=True)
    later = threading.Thread(target=wave, args=(quiet2, lambda s: s.start_scenario(dealt[quiet2.index(s)]),
                                                second_wave_offset), daemon=True)
    first.start()
    later.start()
    first.join()
    later.join()
    return quiet1, quiet2


# ----------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose code is served (default: this one)")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the served code")
    parser.add_argument("--mode", choices=("embedded", "celery"), default="embedded")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--mode celery)")
    parser.add_argument("--players-worker", action=argparse.BooleanOptionalAction, default=True,
                        help="--mode celery: the first worker serves only players' epochs, as docker-compose.cpu.yml "
                             "keeps capacity for them (default; --no-players-worker: every worker serves every lane)")
    parser.add_argument("--players-processes", type=int, default=1,
                        help="--mode celery: processes of the players' worker (its --processes)")
    parser.add_argument("--others-niceness", type=int, default=None,
                        help="--mode celery: HYPERQUEST_TRAINING_NICENESS of the other workers (default: the setting's)")
    parser.add_argument("--players", type=int, default=3)
    parser.add_argument("--second-wave", type=int, default=3)
    parser.add_argument("--second-wave-at", type=float, default=180.0, help="seconds after the start")
    parser.add_argument("--continues", type=int, default=8)
    parser.add_argument("--think", type=float, default=3.0, help="seconds of thought before each action")
    parser.add_argument("--dataset", default="textures:1", help="the first wave's dataset (an image family)")
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"), help="dataset size (make run: small)")
    parser.add_argument("--baseline-epochs", type=int, default=30, help="the baselines' budget (the game's: 30)")
    parser.add_argument("--load", action="store_true", help="run `hyperquest calibrate` beside the class")
    parser.add_argument("--timeout", type=float, default=3600.0, help="give up on the pool after this long")
    parser.add_argument("--quiet-replay", action=argparse.BooleanOptionalAction, default=True,
                        help="replay both waves on the idle server once the pool is finished (default; "
                             "--no-quiet-replay reports the busy figures only, e.g. for a slow old version)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    if args.players < 1 or args.continues < 1 or args.workers < 1:
        parser.error("--players, --continues and --workers must be at least 1")
    if args.players_processes < 1 or not 0 <= (args.others_niceness or 0) <= 19:
        parser.error("--players-processes must be at least 1 and --others-niceness between 0 and 19")
    if args.mode == "celery" and args.players_worker and args.workers < 2:
        parser.error("--players-worker needs --workers 2 or more (one for players' epochs, one for the rest)")
    family, seed = args.dataset.split(":")

    folder = Path(tempfile.mkdtemp(prefix="hq-class-sim-"))
    deployment = Deployment(args, folder)
    database = Database(deployment.database_url)
    load = None
    try:
        deployment.start()
        started = time.monotonic()
        watch = PoolWatch(database, args.pool_size, started)
        watch.start()
        if args.load:
            load = deployment.spawn("load", [sys.executable, "-m", "app.cli", "calibrate", "--families", "shapes,textures",
                                             "--seeds", "1000", "--size", "small"], cwd=ROOT)
        token = make_scenario(instructor(deployment.base), family, int(seed))
        while args.dataset not in watch.playable:
            if time.monotonic() - started > args.timeout:
                raise SystemExit(f"{args.dataset} never became playable")
            time.sleep(0.5)
        print(f"{args.dataset} playable after {watch.playable[args.dataset]:.0f} s; wave 1 starts", flush=True)
        wave1 = [Student(deployment.base, f"w1-{i}") for i in range(args.players)]
        wave2 = [Student(deployment.base, f"w2-{i}") for i in range(args.second_wave)]
        first = threading.Thread(target=play_wave, args=(wave1, lambda s: s.start_scenario(token), args.continues,
                                                         args.think), daemon=True)

        wave2_started: list[float] = []

        def second_wave() -> None:
            time.sleep(max(0.0, args.second_wave_at - (time.monotonic() - started)))
            wave2_started.append(time.monotonic())
            print(f"wave 2 starts at {time.monotonic() - started:.0f} s", flush=True)
            deadline = started + args.timeout
            play_wave(wave2, lambda s: s.start_pool(deadline), args.continues, args.think)

        second = threading.Thread(target=second_wave, daemon=True)
        wave1_at = time.monotonic()
        first.start()
        second.start()
        first.join()
        second.join()
        waves_done = time.monotonic() - started
        print(f"both waves done after {waves_done:.0f} s; waiting for the pool to finish", flush=True)
        while not watch.finished() and time.monotonic() - started < args.timeout:
            time.sleep(2)
        pool_done = time.monotonic() - started
        if load is not None:
            os.killpg(load.pid, 15)
        finished = "finished" if watch.finished() else f"not finished (--timeout {args.timeout:.0f} s)"
        if args.quiet_replay:
            print(f"pool {finished} after {pool_done:.0f} s; the quiet replay starts", flush=True)
            quiet1, quiet2 = replay_quietly(deployment, database, token, wave1, wave2,
                                            second_wave_offset=wave2_started[0] - wave1_at if wave2_started else 0.0)
        else:
            print(f"pool {finished} after {pool_done:.0f} s; no quiet replay (--no-quiet-replay)", flush=True)
            quiet1, quiet2 = [], []
        watch.stop.set()
        busy_epochs = [t for s in wave1 + wave2 for t in s.epochs]
        wave1_epochs = [t for s in wave1 for t in s.epochs]
        quiet = quiet1 + quiet2
        quiet_epochs = [t for s in quiet for t in s.epochs]
        quiet1_epochs = [t for s in quiet1 for t in s.epochs]
        result = {
            "source": str(args.source), "mode": args.mode, "workers": args.workers if args.mode == "celery" else 0,
            "players_worker": args.mode == "celery" and args.players_worker,
            "players_processes": args.players_processes, "others_niceness": args.others_niceness,
            "load": args.load, "cores": os.cpu_count(),
            "first_playable_s": min(watch.playable.values(), default=None),
            "all_playable_s": max(watch.playable.values()) if len(watch.playable) >= args.pool_size else None,
            "all_references_s": max(watch.references.values()) if len(watch.references) >= args.pool_size else None,
            "wave1_epoch_s": summary(wave1_epochs), "busy_epoch_s": summary(busy_epochs),
            "quiet_epoch_s": summary(quiet_epochs),
            "wave2_offset_s": (wave2_started[0] - wave1_at) if wave2_started else None,
            "p95_ratio_busy_to_quiet": (percentile(busy_epochs, 0.95) / percentile(quiet_epochs, 0.95)
                                        if busy_epochs and quiet_epochs else None),
            "p95_ratio_wave1_to_quiet": (percentile(wave1_epochs, 0.95) / percentile(quiet1_epochs, 0.95)
                                         if wave1_epochs and quiet1_epochs else None),
            "done_to_branches_s": summary([s.debrief for s in wave1 + wave2 if s.debrief is not None]),
            "quiet_done_to_branches_s": summary([s.debrief for s in quiet if s.debrief is not None]),
            "failed_jobs": database.failed_by_kind(), "database_is_locked": deployment.locked_messages(),
            "player_errors": [f"{s.name}: {s.error}" for s in wave1 + wave2 + quiet if s.error],
            "datasets": {"wave1": datasets_of(database, wave1), "wave2": datasets_of(database, wave2)},
            "passed_over": sorted(watch.passed_over),
            "playable_s": watch.playable, "references_s": watch.references, "logs": str(folder),
        }
    finally:
        if load is not None and load.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(load.pid, 9)
        deployment.stop()
    print(json.dumps({k: v for k, v in result.items() if k not in ("playable_s", "references_s")}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
