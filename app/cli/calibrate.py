"""``hyperquest calibrate``: are the datasets worth playing at the game's budget? The default against the references."""

from __future__ import annotations

import argparse

from app.cli.common import add_size_argument, fmt, print_json, resolve_size, table
from engine import calibration
from engine.calibration import BOT, REFERENCES, calibrate, summarise
from engine.datasets import FAMILIES
from engine.datasets.base import MAX_SEED
from engine.devices import resolve_device
from engine.errors import ConfigError
from engine.memory import keep_freed_memory
from engine.rules import MAX_EPOCHS

#: Short column names of the references in the per-seed lines.
SHORT = {"lr 0.1 constant": "lr0.1", "lr 0.1 step decay": "lr0.1-step", "lr 0.01 step decay": "lr0.01-step", BOT: "bot"}


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "calibrate",
        help="play the default schedule, the reference schedules and the automatic player on N seeds per family",
        description="For N seeds per family, play the default schedule, the other reference schedules and the "
        "automatic player for the game's epoch budget (sharing the epochs they have in common), and print per "
        "family the default's band, its gap to the best reference and how often the automatic player beats it.",
    )
    parser.add_argument("--seeds", type=int, default=10, help="seeds per family (default 10)")
    parser.add_argument("--first-seed", type=int, default=1, help="first seed (default 1, the first seed of a class pool)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families (default: all)")
    parser.add_argument("--epochs", type=int, default=MAX_EPOCHS,
                        help=f"epoch budget of every run (default {MAX_EPOCHS}, the game's)")
    add_size_argument(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", action="store_true", help="JSON lines: one per seed, then one per family")
    parser.set_defaults(run=run)


def _families(text: str) -> list[str]:
    """The families named in ``text``; ConfigError for unknown ones or none."""
    families = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ConfigError(f"unknown families: {', '.join(unknown) or '(none given)'}; choose from {', '.join(FAMILIES)}")
    return list(dict.fromkeys(families))


def _check_numbers(args: argparse.Namespace) -> None:
    """Seeds, first seed and epochs in range; ConfigError otherwise."""
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    if not 1 <= args.epochs <= MAX_EPOCHS:
        raise ConfigError(f"--epochs must be between 1 and {MAX_EPOCHS}, got {args.epochs}")
    if args.first_seed < 0 or args.first_seed + args.seeds - 1 > MAX_SEED:
        raise ConfigError(f"seeds must lie between 0 and {MAX_SEED}")


def seed_line(result) -> str:
    """One seed as a text line: chance, default, every reference, the gap and what it cost."""
    refs = " ".join(f"{SHORT[name]}:{fmt(result.references[name])}" for name in REFERENCES)
    return (f"{result.family}:{result.seed} classes={result.classes} chance={fmt(result.chance)} "
            f"default={fmt(result.default)} | {refs} | gap={result.gap:+.3f} "
            f"epochs={result.epochs_trained}/{result.epochs_separate} {result.seconds:.0f}s")


def run(args: argparse.Namespace) -> int:
    """Run the calibration and print per-seed lines then the per-family table."""
    families = _families(args.families)
    _check_numbers(args)
    size = resolve_size(args)
    device = resolve_device(args.device)
    keep_freed_memory()

    def report(result) -> None:
        if args.json:
            print_json({"type": "seed", "size": size, "epochs": args.epochs, **result.as_dict()})
        else:
            print(seed_line(result), flush=True)

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results = calibrate(families, seeds, size, args.epochs, device, on_result=report)
    summary = summarise(results)
    if args.json:
        for family, row in summary.items():
            print_json({"type": "family", "family": family, "size": size, "epochs": args.epochs, **row})
        return 0
    print()
    print(f"size={size}, epochs={args.epochs}, seeds {args.first_seed}-{args.first_seed + args.seeds - 1}; "
          f"default = width 64, depth 4, lr 0.01; references = {', '.join(REFERENCES)}")
    low, high = calibration.GAP_LEVELS
    rows = [
        [family, str(r["seeds"]), fmt(r["chance"]), fmt(r["default"]), f"{fmt(r['default_min'])}-{fmt(r['default_max'])}",
         fmt(r["best"]), fmt(r["bot"]), f"{r['default_in_band']:.0%}", f"{r['gap_median']:+.3f}",
         f"{r[f'gap_{low:g}']:.0%}", f"{r[f'gap_{high:g}']:.0%}", f"{r['bot_beats_default']:.0%}",
         "yes" if r["meets_targets"] else "no", f"{r['epochs_trained']}/{r['epochs_separate']}"]
        for family, r in summary.items()
    ]
    table(rows, ["family", "seeds", "chance", "default", "default range", "best ref", "bot",
                 f"in band (>={calibration.IN_BAND_SHARE:.0%})", f"gap median (>={calibration.GAP_TARGET:g})",
                 f"gap>={low:g}", f"gap>={high:g}", f"bot>default (>={calibration.BOT_SHARE:.0%})", "targets",
                 "epochs shared/separate"])
    return 0
