"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import math
import sys

from engine.datasets import SIZES


def add_size_argument(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--size tiny|small|full``; without it the HYPERQUEST_DATASET_SIZE setting applies."""
    parser.add_argument(
        "--size",
        choices=tuple(SIZES),
        default=default,
        help="dataset size preset (default: the HYPERQUEST_DATASET_SIZE setting, small)",
    )


def resolve_size(args: argparse.Namespace) -> str:
    """The size from the flag, else from settings."""
    if args.size:
        return args.size
    from app.settings import load_settings

    return load_settings().dataset_size


def print_json(record: dict) -> None:
    """One JSON object per line, NaN written as null so every line is valid JSON."""
    print(json.dumps(_finite(record), sort_keys=False), flush=True)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def fmt(value: float | None, digits: int = 3) -> str:
    """A metric for a text table ('-' when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def table(rows: list[list[str]], header: list[str], out=sys.stdout) -> None:
    """Print a left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line, file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)), file=out)
