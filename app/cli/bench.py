"""``hyperquest bench``: the engine's speed figures (data, epochs vs a plain loop, Net2Net, checkpoints)."""

from __future__ import annotations

import argparse
import dataclasses

import torch

from app.cli.common import print_json, table
from engine import benchmark
from engine.datasets import SIZES
from engine.errors import ConfigError


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="measure generation, epoch, Net2Net and checkpoint speed",
        description="Prints a table of the engine's speed figures (or JSON lines with --json).",
    )
    parser.add_argument("--sizes", default="small,full", help="comma-separated sizes for epoch timings (default small,full)")
    parser.add_argument(
        "--configs", default="32x2,64x4,128x8", help="comma-separated WIDTHxDEPTH networks (default 32x2,64x4,128x8)"
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    parser.set_defaults(run=run)


def _parse_configs(text: str) -> list[tuple[int, int]]:
    configs = []
    for token in text.split(","):
        try:
            width, depth = (int(v) for v in token.lower().split("x"))
        except ValueError:
            raise ConfigError(f"network must look like WIDTHxDEPTH (e.g. 64x4), got {token!r}") from None
        configs.append((width, depth))
    return configs


def run(args: argparse.Namespace) -> int:
    """Run every measurement and print it."""
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad or not sizes:
        raise ConfigError(f"unknown sizes {bad}; choose from {', '.join(SIZES)}")
    configs = _parse_configs(args.configs)
    out = print_json if args.json else None

    # "Of peak" compares against the matmul peak in the precision our training passes use.
    dtype = benchmark.training_dtype()
    precision = str(dtype).removeprefix("torch.")
    peak = benchmark.matmul_peak_gflops(dtype=dtype)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "training_precision": precision,
            "matmul_peak_gflops": round(peak, 1)}
    if out:
        out({"type": "machine", **meta})
    else:
        print(f"torch {meta['torch']}, {meta['threads']} threads, training in {precision}, "
              f"{precision} matmul peak {peak:.1f} GFLOP/s\n")

    for size in sizes:
        gen = benchmark.generation_seconds(size)
        if out:
            for family, (n, s) in gen.items():
                out({"type": "generation", "size": size, "family": family, "examples": n, "seconds": round(s, 4)})
        else:
            print(f"Dataset generation ({size}, all splits)")
            table([[f, str(n), f"{s:.3f}", f"{n / s:,.0f}"] for f, (n, s) in gen.items()],
                  ["family", "examples", "seconds", "examples/s"])
            print()

    rows = []
    for size in sizes:
        for width, depth in configs:
            result = benchmark.epoch_bench(size, width, depth)
            if out:
                out({"type": "epoch", **dataclasses.asdict(result), "speedup": round(result.speedup, 2),
                     "peak_fraction": round(result.gflops / peak, 3)})
            rows.append([size, f"{width}x{depth}", str(result.examples), f"{result.ours_seconds:.2f}",
                         f"{result.plain_seconds:.2f}", f"{result.speedup:.2f}x", f"{result.gflops:.1f}",
                         f"{result.gflops / peak:.0%}", f"{result.ours_val_acc:.3f} / {result.plain_val_acc:.3f}"])
    if not out:
        print("One epoch (train + val), shapes:1 - ours vs a plain DataLoader loop")
        table(rows, ["size", "net", "train", "ours s", "plain s", "speedup", "GFLOP/s", "of peak", "val acc ours/plain"])
        print()

    growth_times = benchmark.net2net_seconds()
    ckpt = benchmark.checkpoint_bench()
    if out:
        out({"type": "net2net", **{k: round(v, 4) for k, v in growth_times.items()}})
        out({"type": "checkpoint", **{k: round(v, 4) if isinstance(v, float) else v for k, v in ckpt.items()}})
    else:
        print("Net2Net operations on a trained 64x4 CNN")
        table([[k, f"{v * 1000:.1f}"] for k, v in growth_times.items()], ["operation", "ms"])
        print()
        print(f"Checkpoint of the largest network ({ckpt['width']}x{ckpt['depth']} CNN, with momentum): "
              f"{ckpt['megabytes']:.1f} MiB, save {ckpt['save_seconds'] * 1000:.0f} ms, "
              f"load {ckpt['load_seconds'] * 1000:.0f} ms")
    return 0
