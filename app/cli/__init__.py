"""The ``hyperquest`` command: one subcommand per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import entry_points

from app.cli.errors import database_problem
from engine.errors import HyperQuestError

#: Every subcommand: its module in this package and the one line ``hyperquest --help`` shows.
#: Only the module of the command being run is imported, so ``--help`` or ``staff list`` never
#: pays for torch, which ``train`` and the dataset commands need.
COMMANDS = {
    "serve": "start the web game",
    "migrate": "apply database migrations",
    "pool": "prepare the dataset pool's baselines before class, or show its status",
    "staff": "create or list instructor and researcher accounts",
    "train": "play one game with scripted actions",
    "datasets": "list dataset families or describe one dataset",
    "calibrate": "train the default configuration and a small grid per family",
    "export": "write the pseudonymous research export",
    "lti": "LTI 1.3: the tool's URLs and registered platforms",
}
#: Subcommands other packages add (``hyperquest worker`` comes from the worker package): the app
#: never imports them by name, so app/ does not depend on worker/ (see pyproject's entry points).
PLUGIN_GROUP = "hyperquest.commands"


def plugin_entries() -> dict:
    """The entry points registered under PLUGIN_GROUP by the installed packages, by name (not loaded)."""
    return {entry.name: entry for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name)}


def plugin_commands() -> list:
    """The command modules registered under PLUGIN_GROUP by the installed packages, by name."""
    return [entry.load() for entry in plugin_entries().values()]


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named on the command line (the first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def command_module(name: str):
    """The module that implements subcommand ``name`` (imported now)."""
    if name in COMMANDS:
        return importlib.import_module(f"app.cli.{name}")
    return plugin_entries()[name].load()


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the subcommand named in ``argv`` (all of them when None) is loaded in full."""
    parser = argparse.ArgumentParser(
        prog="hyperquest",
        description="HyperQuest: learn hyperparameter tuning by training real networks one epoch at a time.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    plugins = plugin_entries()
    chosen = None if argv is None else _chosen(argv)
    for name in (*COMMANDS, *plugins):
        if argv is None or name == chosen:
            command_module(name).add_parser(subparsers)
        else:  # listed by name and help only: its options are parsed once it is the chosen command
            subparsers.add_parser(name, help=COMMANDS.get(name, f"see hyperquest {name} --help"), add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn every expected failure into one line and exit 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except HyperQuestError as exc:
        print(f"hyperquest {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hyperquest {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except Exception as exc:  # noqa: BLE001 - only the kinds _one_line names become one line; the rest is a bug
        line = _one_line(exc)
        if line is None:
            raise
        print(f"hyperquest {args.command}: error: {line}", file=sys.stderr)
        return 1


def _one_line(exc: Exception) -> str | None:
    """The one-line message for a bad setting or an unreachable database; None for anything else (a bug)."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        return f"bad setting: {problems}"
    return database_problem(exc)


if __name__ == "__main__":
    sys.exit(main())
