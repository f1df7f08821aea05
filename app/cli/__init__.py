"""The ``hyperquest`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from app.cli import bench, calibrate, datasets, export, lti, migrate, pool, serve, staff, train, worker
from engine.errors import HyperQuestError

COMMANDS = (serve, worker, migrate, pool, staff, train, datasets, calibrate, bench, export, lti)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="hyperquest",
        description="HyperQuest: learn hyperparameter tuning by training real networks one epoch at a time.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn every expected failure into one line and exit 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HyperQuestError as exc:
        print(f"hyperquest {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        print(f"hyperquest {args.command}: error: bad setting: {problems}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hyperquest {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
