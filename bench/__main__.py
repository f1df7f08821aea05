"""``python -m bench`` (``make bench``): speed figures of the engine (data, epochs vs a plain loop, Net2Net,
checkpoints) and of the game's plumbing (latency around an epoch, embedded and through Celery)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from app.cli.common import print_json, table
from bench import latency
from bench import training as benchmark
from engine.datasets import SIZES
from engine.errors import ConfigError, HyperQuestError


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Prints a table of the engine's speed figures and the latency around an epoch "
                    "(or JSON lines with --json).",
    )
    parser.add_argument("--sizes", default="small,full", help="comma-separated sizes for epoch timings (default small,full)")
    parser.add_argument(
        "--configs", default="32x2,64x4,128x8", help="comma-separated WIDTHxDEPTH networks (default 32x2,64x4,128x8)"
    )
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout rate of the timed epochs, 0 <= rate < 1 (default 0: none)")
    parser.add_argument("--parts", default="engine,latency",
                        help="what to measure, comma-separated: engine, latency (default both)")
    parser.add_argument("--latency-modes", default="embedded,celery",
                        help="modes for the latency figures: embedded, celery (default both)")
    parser.add_argument("--rounds", type=int, default=40, help="Continues per latency mode (default 40)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for the celery latency mode")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="PostgreSQL server where the celery latency mode may create a scratch database")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of tables")
    return parser


PARTS = ("engine", "latency")


def _parse_list(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ConfigError(f"unknown {what} {bad}; choose from {', '.join(allowed)}")
    return items


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
    """Run the chosen measurements and print them."""
    parts = _parse_list(args.parts, PARTS, "parts")
    modes = _parse_list(args.latency_modes, latency.MODES, "latency modes")
    if not 1 <= args.rounds <= 1000:
        raise ConfigError(f"--rounds must be between 1 and 1000, got {args.rounds}")
    if "latency" in parts:
        latency.require_client()  # before the engine part, not minutes into it
    if "engine" in parts:
        _engine(args)
    if "latency" in parts:
        _latency(args, modes)
    return 0


def _latency(args: argparse.Namespace, modes: list[str]) -> None:
    results = [latency.measure(mode, args.rounds, args.redis_url, args.postgres_url) for mode in modes]
    if args.json:
        for result in results:
            print_json({"type": "latency", **{k: round(v, 1) if isinstance(v, float) else v
                                              for k, v in dataclasses.asdict(result).items()}})
        return
    print("Overhead around an epoch (ms): Continue posted -> runner starts it; epoch ends -> browser told")
    table([[r.mode, str(r.samples), f"{r.to_start_p50:.1f}", f"{r.to_start_p95:.1f}", f"{r.to_browser_p50:.1f}",
            f"{r.to_browser_p95:.1f}"] for r in results],
          ["mode", "epochs", "to start p50", "to start p95", "to browser p50", "to browser p95"])
    print()


def _engine(args: argparse.Namespace) -> None:
    """Generation, epochs against the plain loop, Net2Net and checkpoint figures."""
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in sizes if s not in SIZES]
    if bad or not sizes:
        raise ConfigError(f"unknown sizes {bad}; choose from {', '.join(SIZES)}")
    configs = _parse_configs(args.configs)
    if not 0 <= args.dropout < 1:
        raise ConfigError(f"--dropout must be at least 0 and below 1, got {args.dropout}")
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
            result = benchmark.epoch_bench(size, width, depth, dropout=args.dropout)
            if out:
                out({"type": "epoch", **dataclasses.asdict(result), "speedup": round(result.speedup, 2),
                     "peak_fraction": round(result.gflops / peak, 3)})
            rows.append([size, f"{width}x{depth}", str(result.examples), f"{result.ours_seconds:.2f}",
                         f"{result.plain_seconds:.2f}", f"{result.speedup:.2f}x", f"{result.gflops:.1f}",
                         f"{result.gflops / peak:.0%}", f"{result.ours_val_acc:.3f} / {result.plain_val_acc:.3f}"])
    if not out:
        print(f"One epoch (train + val), shapes:1, dropout {args.dropout:g} - ours vs a plain DataLoader loop")
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
        print()


def main(argv: list[str] | None = None) -> int:
    """Parse, measure, print; a bad flag or a missing service is one line and exit 1."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HyperQuestError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
