"""A bounded load test on loopback: N simulated students each play one whole game.

    python bench/loadtest/run.py --mode embedded|celery|both --users 300 --spawn-rate 5 --max-minutes 6

For each mode it starts a fresh deployment (embedded: `hyperquest serve` on a temporary SQLite
file; celery: `hyperquest serve` plus ONE `hyperquest worker` on a scratch PostgreSQL database and
a Redis key prefix), with `tiny` datasets, a pool of --pool-size datasets and real 30-epoch
baselines, waits until every pool dataset has its baselines, then runs bench/loadtest/locustfile.py
headless (a subprocess) until every student finished the game or --max-minutes ran out. Meanwhile
it samples the server's (and worker's) memory and /healthz's open SSE streams. At the end it prints
a summary per mode and removes the database, the Redis keys and the temporary files. Locust's CSV
files, its log and the server's log stay in var/bench/loadtest/<time>-<mode>/.

Exit status: 0 when every game completed without a failed request, 1 otherwise, 2 for bad flags or
a missing service, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MODES = ("embedded", "celery")
GOAL_P95_MS = 300.0
#: Page routes shown in the per-route table (the rest still count in the page figures).
MAIN_ROUTES = (
    "GET /login", "POST /login", "GET /survey", "POST /survey", "GET /instructions", "POST /runs",
    "GET /runs/[id]/configure", "POST /runs/[id]/configure", "GET /runs/[id]", "GET /runs/[id]/history.json",
    "POST /runs/[id]/actions [continue]", "POST /runs/[id]/actions [revert]", "POST /runs/[id]/actions [done]",
    "GET /runs/[id]/result", "GET /leaderboard", "GET /session/csrf",
)


class Stop(Exception):
    """A one-line reason to stop (missing service, deployment that did not start)."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error instead of the usage block."""

    def error(self, message: str):  # type: ignore[override]
        print(f"bench/loadtest/run.py: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = Parser(description="Bounded locust load test of HyperQuest on loopback (embedded and/or Celery mode).")
    parser.add_argument("--mode", choices=(*MODES, "both"), default="both", help="deployment(s) to test (default both)")
    parser.add_argument("--users", type=int, default=300, help="simulated students, one game each (default 300)")
    parser.add_argument("--spawn-rate", type=float, default=5,
                        help="students started per second (default 5: a class of 300 arriving within a minute)")
    parser.add_argument("--max-minutes", type=float, default=6, help="time bound of each mode's locust run (default 6)")
    parser.add_argument("--pool-size", type=int, default=4, help="datasets in the pool (default 4)")
    parser.add_argument("--baseline-epochs", type=int, default=30, help="epoch budget of the baselines (default 30)")
    parser.add_argument("--default-ip-limits", action="store_true",
                        help="keep the per-IP rate limits at their defaults (all students share 127.0.0.1, so "
                             "expect 429s); by default they are raised, see RAISED_IP_LIMITS")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the celery mode")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL admin URL for the celery mode's scratch database")
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.spawn_rate <= 0:
        parser.error("--spawn-rate must be positive")
    if not 0 < args.max_minutes <= 120:
        parser.error("--max-minutes must be between 0 and 120")
    if not 1 <= args.pool_size <= 100:
        parser.error("--pool-size must be between 1 and 100")
    if not 1 <= args.baseline_epochs <= 30:
        parser.error("--baseline-epochs must be between 1 and 30")
    return args


# -- the deployment ----------------------------------------------------------------------------


#: Every simulated student comes from 127.0.0.1, exactly like a real class behind one campus NAT;
#: the per-IP limits (defaults 300 logins and 1200 game POSTs a minute) would refuse such a class
#: from the 301st login within a minute, and 300 students playing post far more than 1200 actions
#: a minute. So the load test raises only the per-IP limits; the per-account and per-student limits
#: (10 logins and 60 game POSTs a minute) stay at their defaults and are exercised.
RAISED_IP_LIMITS = {"rate_limit_login_per_ip": "100000/minute", "rate_limit_actions_per_ip": "100000/minute"}


def settings(args: argparse.Namespace) -> dict[str, str]:
    """HYPERQUEST_* settings of the deployment under test (lower-case keys)."""
    values = {
        "dataset_size": "tiny",
        "pool_size": str(args.pool_size),
        "baseline_epochs": str(args.baseline_epochs),
        "device": "cpu",
        "secret_key": f"loadtest-{uuid.uuid4().hex}",
    }
    if not args.default_ip_limits:
        values.update(RAISED_IP_LIMITS)
    return values


@contextlib.contextmanager
def deployment(mode: str, args: argparse.Namespace, folder: Path):
    """Yields (base URL, {name: Process}) of a fresh deployment; stops and removes everything after."""
    from bench.processes import hyperquest_env, start_server, start_worker

    if mode == "embedded":
        with tempfile.TemporaryDirectory(prefix="hq-load-") as scratch:
            env = hyperquest_env(database_url=f"sqlite:///{scratch}/load.sqlite3", **settings(args))
            server = _started(lambda: start_server(env), "server")
            server_process, base = server
            try:
                yield base, {"server": server_process}
            finally:
                server_process.stop()
                _keep_log(server_process, folder / "server.log")
        return

    import psycopg
    import redis

    prefix = f"hqload-{uuid.uuid4().hex[:8]}"
    name = f"hq_load_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(args.postgres_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    except (psycopg.Error, redis.RedisError) as exc:
        raise Stop(f"the celery mode needs PostgreSQL and Redis: {str(exc).strip().splitlines()[0]}") from None
    url = args.postgres_url.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    env = hyperquest_env(database_url=url, redis_url=args.redis_url, redis_prefix=prefix, **settings(args))
    processes = {}
    try:
        processes["server"], base = _started(lambda: start_server(env), "server")
        processes["worker"] = _started(lambda: start_worker(env), "worker")
        yield base, processes
    finally:
        for key in ("worker", "server"):
            if key in processes:
                processes[key].stop()
                _keep_log(processes[key], folder / f"{key}.log")
        with contextlib.suppress(psycopg.Error):
            with psycopg.connect(args.postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(redis.RedisError):
            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)


def _started(start, what: str):
    try:
        return start()
    except AssertionError as exc:
        tail = " | ".join(line for line in str(exc).splitlines()[-3:] if line.strip())
        raise Stop(f"the {what} did not start: {tail}") from None


def _keep_log(process, path: Path) -> None:
    with contextlib.suppress(OSError):
        path.write_text("".join(process.lines))


def wait_for_pool(base: str, timeout: float = 900) -> float:
    """Play as a throwaway student until every pool dataset has its baselines; returns the seconds it took."""
    import httpx

    from bench.game_http import GameClient

    started = time.monotonic()
    with GameClient(base_url=base, timeout=30) as http:
        http.post("/login", data={"student_id": "loadtest-probe", "name": "Load Test Probe"})
        http.post("/survey", data={"education": "Masters student", "experience_years": "Less than 6 months",
                                   "self_rating": "Some experience", "network_types": ["Fully connected networks"]})
        http.post("/runs", follow_redirects=False)  # creates the pool, whose baselines then start
        while True:
            try:
                page = http.get("/runs/new").text
            except httpx.HTTPError:
                page = ""
            match = re.search(r"<strong>(\d+) of (\d+)</strong>", page)
            if match and match.group(1) == match.group(2):
                return time.monotonic() - started
            if "could not be prepared" in page:
                raise Stop("a pool dataset's baselines failed; see the server log")
            if time.monotonic() - started > timeout:
                raise Stop(f"the pool was still computing baselines after {timeout:.0f}s")
            time.sleep(1)


# -- sampling ---------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/<pid>/task/*/children)."""
    pids, i = [pid], 0
    while i < len(pids):
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pids[i]}/task"):
                with open(f"/proc/{pids[i]}/task/{task}/children") as handle:
                    pids.extend(int(p) for p in handle.read().split())
        i += 1
    return pids


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MiB (VmRSS from /proc/<pid>/status)."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/{p}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{p}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Sampler(threading.Thread):
    """Every second: RSS of each process, /healthz's open_streams."""

    def __init__(self, base: str, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.base, self.pids = base, pids
        self.rss_max = {k: 0.0 for k in pids}
        self.rss_last = {k: 0.0 for k in pids}
        self.streams_max = 0
        self.health_failures = 0
        self.cpu_start = {k: cpu_seconds(p) for k, p in pids.items()}
        self.cpu_used: dict[str, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(1.0)

    def sample(self) -> None:
        for key, pid in self.pids.items():
            value = rss_mib(pid)
            if value:
                self.rss_last[key] = value
                self.rss_max[key] = max(self.rss_max[key], value)
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=5) as response:
                self.streams_max = max(self.streams_max, int(json.load(response).get("open_streams", 0)))
        except (OSError, ValueError):
            self.health_failures += 1

    def finish(self) -> None:
        self._stop_event.set()
        self.join(5)
        self.sample()
        self.cpu_used = {k: cpu_seconds(p) - self.cpu_start[k] for k, p in self.pids.items()}


def _loadavg() -> str:
    """The machine's 1-minute load average (other work on the machine skews every figure)."""
    with contextlib.suppress(OSError):
        with open("/proc/loadavg") as handle:
            return handle.read().split()[0]
    return "?"


# -- one mode --------------------------------------------------------------------------------


def run_mode(mode: str, args: argparse.Namespace, out: Path) -> dict:
    folder = out / mode
    folder.mkdir(parents=True, exist_ok=True)
    print(f"[{mode}] starting the deployment ...", flush=True)
    with deployment(mode, args, folder) as (base, processes):
        print(f"[{mode}] {base}: waiting for the pool's baselines ({args.pool_size} datasets x "
              f"{args.baseline_epochs} epochs) ...", flush=True)
        pool_seconds = wait_for_pool(base)
        print(f"[{mode}] pool ready after {pool_seconds:.0f}s; {args.users} students start at {args.spawn_rate:g}/s "
              f"(bound {args.max_minutes:g} min) ...", flush=True)
        summary_path = folder / "summary.json"
        env = dict(os.environ, LOADTEST_SUMMARY=str(summary_path), LOADTEST_TAG=uuid.uuid4().hex[:6],
                   PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless",
                   "-u", str(args.users), "-r", f"{args.spawn_rate:g}", "--run-time", f"{round(args.max_minutes * 60)}s",
                   "--host", base, "--csv", str(folder / "locust"), "--stop-timeout", "5", "--only-summary",
                   "--loglevel", "WARNING"]
        pids = {name: process.popen.pid for name, process in processes.items()}
        load_before = _loadavg()
        sampler = Sampler(base, pids)
        sampler.start()
        started = time.monotonic()
        with open(folder / "locust.log", "w") as log:
            locust = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
            try:
                locust_cpu_start = cpu_seconds(locust.pid)
                locust_cpu = 0.0
                while locust.poll() is None:
                    locust_cpu = max(locust_cpu, cpu_seconds(locust.pid) - locust_cpu_start)
                    time.sleep(1)
            finally:
                if locust.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(locust.pid, signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        locust.wait(20)
        wall = time.monotonic() - started
        sampler.finish()
        if not summary_path.exists():
            tail = (folder / "locust.log").read_text().strip().splitlines()[-3:]
            raise Stop(f"locust wrote no summary (exit {locust.returncode}): {' | '.join(tail)}")
        result = json.loads(summary_path.read_text())
    result.update(
        mode=mode, users=args.users, spawn_rate=args.spawn_rate, wall_s=wall, pool_s=pool_seconds,
        rss_max=sampler.rss_max, rss_last=sampler.rss_last, streams_max=sampler.streams_max,
        health_failures=sampler.health_failures, load=(load_before, _loadavg()), cpu_s=sampler.cpu_used, locust_cpu_s=locust_cpu, folder=str(folder),
    )
    return result


# -- the summary -----------------------------------------------------------------------------


def _ms(value) -> str:
    return "-" if value is None else f"{value:,.0f}"


def report(r: dict, args: argparse.Namespace) -> str:
    games = r["games"]
    unfinished = r["users"] - games["completed"] - games["failed"]
    lines = [
        f"== {r['mode']} mode: {r['users']} students (spawn {r['spawn_rate']:g}/s), tiny datasets, pool "
        f"{args.pool_size} x {args.baseline_epochs}-epoch baselines (ready after {r['pool_s']:.0f}s) ==",
        f"games completed {games['completed']}/{r['users']}   failed {games['failed']}   unfinished {unfinished}   "
        f"wall {r['wall_s']:.0f}s (bound {args.max_minutes:g} min)",
        f"requests {r['requests']:,} (pages, SSE not included)   failures {r['failures']}",
        f"page latency  p50 {_ms(r['page_p50_ms'])} ms   p95 {_ms(r['page_p95_ms'])} ms   max {_ms(r['page_max_ms'])} ms"
        f"   goal p95 < {GOAL_P95_MS:.0f} ms: {'met' if (r['page_p95_ms'] or 1e9) < GOAL_P95_MS else 'NOT met'}",
        f"SSE wait until \"ready\" (queue + training)  n {r['sse']['count']:,}   p50 {_ms(r['sse']['p50_ms'])} ms   "
        f"p95 {_ms(r['sse']['p95_ms'])} ms   max {_ms(r['sse']['max_ms'])} ms   failures {r['sse']['failures']}",
        f"max open SSE streams (/healthz) {r['streams_max']}   epochs already done when the page loaded "
        f"{games['already_trained']}   pool waits {games['pool_waits']}",
    ]
    memory = "   ".join(f"{k} RSS max {r['rss_max'][k]:,.0f} MiB (end {r['rss_last'][k]:,.0f})" for k in r["rss_max"])
    cpu = "   ".join(f"{k} {v:,.0f}s ({v / max(r['wall_s'], 1):.2f} cores)" for k, v in r["cpu_s"].items())
    lines.append(memory)
    lines.append(f"CPU during the test: {cpu}   locust {r['locust_cpu_s']:,.0f}s "
                 f"({r['locust_cpu_s'] / max(r['wall_s'], 1):.2f} cores)   machine load avg {r['load'][0]} -> "
                 f"{r['load'][1]} ({os.cpu_count()} cores)")
    lines.append("")
    lines.append(f"{'route':<36} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    lines.append(f"{'-' * 36} {'-' * 7} {'-' * 5} {'-' * 7} {'-' * 7} {'-' * 7}")
    for name in MAIN_ROUTES:
        row = r["routes"].get(name)
        if row:
            lines.append(f"{name:<36} {row['count']:>7,} {row['failures']:>5} {_ms(row['p50_ms']):>7} "
                         f"{_ms(row['p95_ms']):>7} {_ms(row['max_ms']):>7}")
    if r["errors"]:
        lines.append("")
        lines.append("errors (count  what):")
        for message, count in list(r["errors"].items())[:10]:
            lines.append(f"  {count:>5}  {message}")
    lines.append(f"(locust CSV, locust log and server log: {r['folder']})")
    return "\n".join(lines)


def failed(r: dict) -> bool:
    games = r["games"]
    return bool(r["failures"] or games["failed"] or games["completed"] < r["users"])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    modes = MODES if args.mode == "both" else (args.mode,)
    out = ROOT / "var" / "loadtest" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for mode in modes:
            results.append(run_mode(mode, args, out))
            print(report(results[-1], args), flush=True)
            print(flush=True)
    except KeyboardInterrupt:
        print("bench/loadtest/run.py: interrupted; the deployment was stopped and its database and Redis keys removed",
              file=sys.stderr)
        return 130
    except Stop as exc:
        print(f"bench/loadtest/run.py: {exc}", file=sys.stderr)
        return 2
    if len(results) > 1:
        print(f"{'mode':<10} {'games':>9} {'failures':>8} {'page p50':>9} {'page p95':>9} {'SSE p95':>9} "
              f"{'streams':>7} {'server RSS':>10}")
        for r in results:
            print(f"{r['mode']:<10} {r['games']['completed']:>4}/{r['users']:<4} {r['failures']:>8} "
                  f"{_ms(r['page_p50_ms']):>6} ms {_ms(r['page_p95_ms']):>6} ms {_ms(r['sse']['p95_ms']):>6} ms "
                  f"{r['streams_max']:>7} {r['rss_max']['server']:>6,.0f} MiB")
    return 1 if any(failed(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
