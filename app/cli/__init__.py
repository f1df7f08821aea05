"""The ``hyperquest`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from pydantic import ValidationError

from app.cli import bench, calibrate, datasets, export, lti, migrate, pool, serve, staff, train
from engine.errors import HyperQuestError

COMMANDS = (serve, migrate, pool, staff, train, datasets, calibrate, bench, export, lti)
#: Subcommands other packages add (``hyperquest worker`` comes from the worker package): the app
#: never imports them by name, so app/ does not depend on worker/ (see pyproject's entry points).
PLUGIN_GROUP = "hyperquest.commands"


def plugin_commands() -> list:
    """The command modules registered under PLUGIN_GROUP by the installed packages, by name."""
    return [entry.load() for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="hyperquest",
        description="HyperQuest: learn hyperparameter tuning by training real networks one epoch at a time.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in (*COMMANDS, *plugin_commands()):
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
