"""Benchmark: an epoch with the C allocator's defaults against one with freed memory kept (engine.memory).

Each setting runs in a fresh interpreter (the setting is process-wide): it trains the default
configuration on one dataset for ``--epochs`` epochs after one warm-up epoch and prints seconds per
epoch, user and kernel CPU seconds and the page faults of the timed epochs.

    python bench/freed_memory.py --family textures --epochs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE_SETTING = """
import json, resource, sys, time
from engine.config import default_hparams
from engine.datasets import make_dataset
from engine.memory import keep_freed_memory
from engine.training import new_state, place, train_epoch
family, size, epochs, keep = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "kept"
if keep:
    keep_freed_memory()
dataset = make_dataset(family, 1, size)
data = place(dataset, "cpu")
state = new_state(dataset, default_hparams(), 0, "cpu")
train_epoch(state, data, None)  # warm-up
before = resource.getrusage(resource.RUSAGE_SELF)
seconds = []
for _ in range(epochs):
    started = time.perf_counter()
    train_epoch(state, data, None)
    seconds.append(time.perf_counter() - started)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "user": after.ru_utime - before.ru_utime,
                  "kernel": after.ru_stime - before.ru_stime, "page_faults": after.ru_minflt - before.ru_minflt}))
"""


def measure(family: str, size: str, epochs: int, setting: str) -> dict:
    """One setting's figures, from a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", ONE_SETTING, family, size, str(epochs), setting], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="textures")
    parser.add_argument("--size", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    print(f"{args.family} {args.size}, {args.epochs} epochs after a warm-up, default configuration")
    for setting in ("default", "kept"):
        figures = measure(args.family, args.size, args.epochs, setting)
        print(f"{setting:8} median {statistics.median(figures['seconds']):.2f} s/epoch, "
              f"user {figures['user']:.1f} s, kernel {figures['kernel']:.1f} s, page faults {figures['page_faults']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
