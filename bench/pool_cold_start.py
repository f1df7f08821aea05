"""Benchmark: from an empty database to "every pool dataset playable".

Two ways to get there, on a fresh SQLite file in embedded mode:

- ``--mode server``: start `hyperquest serve` and let its training process compute the pool's
  baselines (what a class got before `pool prepare` existed; still what happens without it);
- ``--mode prepare``: run `hyperquest pool prepare` (local processes, one torch thread each).

``--until references`` waits on until every playable dataset's reference players are stored too
(`pool prepare` and the server go on to them once the pool is playable).

Prints the wall time, the CPU time of the processes that computed (children included), and each
dataset's time. ``--source DIR`` runs another checkout's code (e.g. an older commit in a git
worktree) with this interpreter, to compare before and after on the same machine.

    python bench/pool_cold_start.py --mode prepare --size small --pool-size 8
    python bench/pool_cold_start.py --mode server --until references --source ../before
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _children_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants (from /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / ticks
            pending += [int(c) for c in Path(f"/proc/{current}/task/{current}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def _status(db_path: Path) -> list[tuple]:
    """(family, seed, baseline status, references status, passed over) per dataset, from either schema."""
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(datasets)")}
            rejected = "rejected_reason IS NOT NULL" if "rejected_reason" in columns else "0"
            return conn.execute(f"SELECT family, seed, baseline_status, references_status, {rejected} "
                                "FROM datasets ORDER BY id").fetchall()
    except sqlite3.Error:
        return []


def _references_seconds(db_path: Path) -> dict[str, float]:
    """Seconds each dataset's reference players took, where the served code records it."""
    try:
        with sqlite3.connect(db_path, timeout=5) as conn:
            rows = conn.execute("SELECT family, seed, references_seconds FROM datasets "
                                "WHERE references_seconds IS NOT NULL").fetchall()
    except sqlite3.Error:
        return {}
    return {f"{family}:{seed}": seconds for family, seed, seconds in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("server", "prepare"), required=True)
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--baseline-epochs", type=int, default=30)
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose code runs (default: this one)")
    parser.add_argument("--until", choices=("playable", "references"), default="playable",
                        help="stop once every dataset is playable (default) or once its reference players are done")
    parser.add_argument("--timeout", type=float, default=7200, help="give up after this many seconds")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="hq-pool-bench-"))
    db_path = folder / "pool.sqlite3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERQUEST_")}
    env.update({"HYPERQUEST_DATABASE_URL": f"sqlite:///{db_path}", "HYPERQUEST_DATASET_SIZE": args.size,
                "HYPERQUEST_POOL_SIZE": str(args.pool_size), "HYPERQUEST_BASELINE_EPOCHS": str(args.baseline_epochs),
                "HYPERQUEST_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"})
    if args.mode == "server":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "app.cli", "pool", "prepare"]
    log = open(folder / "output.log", "w")
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=args.source, env=env, stdout=log, stderr=subprocess.STDOUT)
    finished: dict[str, float] = {}
    references: dict[str, float] = {}
    playable_at = None
    cpu = 0.0
    try:
        while time.monotonic() - started < args.timeout:
            cpu = max(cpu, _children_cpu_seconds(process.pid))
            rows = _status(db_path)
            now = time.monotonic() - started
            for family, seed, status, references_status, passed_over in rows:
                ref = f"{family}:{seed}"
                if status in ("done", "failed") and ref not in finished:
                    finished[ref] = now
                    print(f"{ref} {status}{' (passed over)' if passed_over else ''} at {now:.0f} s", flush=True)
                if references_status in ("done", "failed") and ref not in references:
                    references[ref] = now
                    print(f"{ref} reference players {references_status} at {now:.0f} s", flush=True)
            kept = [f"{family}:{seed}" for family, seed, _s, _r, passed_over in rows if not passed_over]
            if playable_at is None and len(rows) >= args.pool_size and len(finished) == len(rows):
                playable_at = now
                if args.until == "playable":
                    break
            if playable_at is not None and len(kept) >= args.pool_size and all(ref in references for ref in kept):
                break
            if process.poll() is not None and args.mode == "server":
                print("the server exited:", (folder / "output.log").read_text()[-2000:])
                return 1
            time.sleep(1)
        else:
            print(f"gave up after {args.timeout:.0f} s")
            return 1
        wall = time.monotonic() - started
        if args.mode == "prepare":
            cpu = max(cpu, _children_cpu_seconds(process.pid))
    finally:
        # `pool prepare` goes on to the reference players once the pool is playable: stop it here.
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(f"mode={args.mode} size={args.size} pool={args.pool_size} baseline_epochs={args.baseline_epochs} "
          f"cores={os.cpu_count()}: every dataset playable after {playable_at:.0f} s ({playable_at / 60:.1f} min); "
          f"CPU {cpu / 60:.1f} min (sampled each second, so a lower bound); first playable after "
          f"{min(finished.values()):.0f} s; {len(finished) - args.pool_size} seeds passed over")
    if args.until == "references":
        print(f"every reference player done after {wall:.0f} s ({wall / 60:.1f} min)")
        seconds = _references_seconds(db_path)
        if seconds:
            print("reference players' own seconds per dataset: "
                  + ", ".join(f"{ref} {value:.0f}" for ref, value in seconds.items())
                  + f"; total {sum(seconds.values()):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
