"""``hyperquest calibrate``: are the datasets worth playing? Default schedule vs a small grid."""

from __future__ import annotations

import argparse
import dataclasses

from app.cli.common import add_size_argument, fmt, print_json, resolve_size, table
from engine.calibration import DEFAULT_CEILING, DEFAULT_MARGIN_OVER_CHANCE, GRID_CHANGES, GRID_GAIN, calibrate, config_label, summarise
from engine.datasets import FAMILIES
from engine.devices import resolve_device
from engine.errors import ConfigError


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "calibrate",
        help="train the default configuration and a small grid on N seeds per family",
        description="For N seeds per family, train the default configuration and each grid point for the "
        "same epoch budget, and print chance, default, best and worst of the grid per family.",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds per family (default 10)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families (default: all)")
    parser.add_argument("--epochs", type=int, default=10, help="epoch budget per configuration (default 10)")
    add_size_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true", help="JSON lines: one per seed, then one per family")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the calibration and print per-seed lines then the per-family table."""
    families = [f.strip().lower() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ConfigError(f"unknown families: {', '.join(unknown) or '(none given)'}; choose from {', '.join(FAMILIES)}")
    if args.seeds < 1 or args.epochs < 1:
        raise ConfigError("--seeds and --epochs must be at least 1")
    size = resolve_size(args)
    device = resolve_device(args.device)
    labels = [config_label(c) for c in GRID_CHANGES]

    def report(result) -> None:
        if args.json:
            print_json({"type": "seed", **dataclasses.asdict(result), "best": result.best, "worst": result.worst})
        else:
            grid = " ".join(f"{label}:{fmt(result.grid[label])}" for label in labels)
            print(f"{result.family}:{result.seed} classes={result.classes} chance={fmt(result.chance)} "
                  f"default={fmt(result.default)} | {grid}", flush=True)

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = calibrate(families, seeds, size, args.epochs, device, on_result=report)
    summary = summarise(results)
    if args.json:
        for family, row in summary.items():
            print_json({"type": "family", "family": family, "size": size, "epochs": args.epochs, **row})
        return 0
    print()
    print(f"size={size}, epochs={args.epochs}, default = width 64, depth 4, lr 0.01, dropout 0; "
          f"grid = {', '.join(labels)}")
    rows = [
        [family, str(r["seeds"]), fmt(r["chance"]), fmt(r["default"]), fmt(r["grid_best"]), fmt(r["grid_worst"]),
         f"{r['default_in_band']:.0%}", f"{r['grid_beats_default']:.0%}"]
        for family, r in summary.items()
    ]
    table(rows, ["family", "seeds", "chance", "default", "grid best", "grid worst",
                 f"default in [chance+{DEFAULT_MARGIN_OVER_CHANCE:g}, {DEFAULT_CEILING:g}]", f"best >= default+{GRID_GAIN:g}"])
    return 0
