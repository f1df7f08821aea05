"""Benchmark: what an epoch job spends outside ``train_epoch`` in the scaled-out mode.

The epoch job (app/runs/epoch_job.train_action) reads the run's checkpoint from PostgreSQL, loads it,
places the dataset on the device, trains, serialises the new checkpoint and writes it back. This
times each of those steps with the job's own functions on a scratch PostgreSQL database, for the
default 64x4 network at the sizes asked for, and prints each step's share of the whole job.
Placing the data is shown cold (a process's first epoch on a dataset: generate + place) and warm
(every later epoch: the per-process cache).

    python bench/epoch_overhead.py --sizes small,full --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from app.datasets import service as datasets  # noqa: E402
from bench.timing import timed  # noqa: E402
from engine import checkpoint  # noqa: E402
from engine.config import default_hparams  # noqa: E402
from engine.session import continue_training  # noqa: E402
from engine.training import new_state  # noqa: E402


def measure(size: str, family: str, epochs: int, url: str) -> dict[str, float]:
    """Median seconds of each step of ``epochs`` epoch jobs on (family:1, size)."""
    datasets.generated.cache_clear()
    datasets.placed.cache_clear()
    (data, cold) = timed(datasets.placed, family, 1, size, "cpu")
    state = new_state(datasets.generated(family, 1, size), default_hparams(), 0)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_checkpoints (id serial PRIMARY KEY, data bytea)"))
    steps: dict[str, list[float]] = {k: [] for k in ("read", "load", "place", "train", "save", "write")}
    blob = checkpoint.to_bytes(state)
    try:
        for _ in range(epochs):
            with engine.begin() as conn:
                started = time.perf_counter()
                conn.execute(text("INSERT INTO bench_checkpoints (data) VALUES (:d)"), {"d": blob})
                steps["write"].append(time.perf_counter() - started)
            with engine.connect() as conn:
                blob, seconds = timed(lambda: conn.execute(text("SELECT data FROM bench_checkpoints ORDER BY id DESC LIMIT 1")).scalar())
                steps["read"].append(seconds)
            state, seconds = timed(checkpoint.from_bytes, blob, "cpu")
            steps["load"].append(seconds)
            data, seconds = timed(datasets.placed, family, 1, size, "cpu")
            steps["place"].append(seconds)
            _, seconds = timed(continue_training, state, {}, data)
            steps["train"].append(seconds)
            blob, seconds = timed(checkpoint.to_bytes, state)
            steps["save"].append(seconds)
    finally:
        engine.dispose()
    result = {k: statistics.median(v) for k, v in steps.items()}
    result["place_cold"] = cold
    result["checkpoint_mib"] = len(blob) / 2**20
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="small,full")
    parser.add_argument("--family", default="shapes")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server where a scratch database is created and dropped")
    args = parser.parse_args()
    name = f"hq_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.replace("postgresql://", "postgresql+psycopg://").rsplit("/", 1)[0] + f"/{name}"
    try:
        print("size   train s  read ms  load ms  place ms (cold)  save ms  write ms  checkpoint  outside train_epoch")
        for size in args.sizes.split(","):
            r = measure(size, args.family, args.epochs, url)
            overhead = r["read"] + r["load"] + r["place"] + r["save"] + r["write"]
            cold = overhead - r["place"] + r["place_cold"]
            print(f"{size:<6} {r['train']:7.2f}  {r['read'] * 1e3:7.1f}  {r['load'] * 1e3:7.1f}  "
                  f"{r['place'] * 1e3:5.2f} ({r['place_cold'] * 1e3:6.0f})  {r['save'] * 1e3:7.1f}  {r['write'] * 1e3:8.1f}  "
                  f"{r['checkpoint_mib']:6.2f} MiB  {overhead / (overhead + r['train']):.2%} warm, "
                  f"{cold / (cold + r['train']):.2%} on a process's first epoch", flush=True)
            # A fresh table per size keeps the reads honest.
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("DROP TABLE bench_checkpoints")
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
