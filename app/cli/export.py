"""``hyperquest export``: write the research export (see docs/export-schema.md) to a directory or a zip."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from engine.errors import ConfigError

FORMATS = ("csv", "jsonl")


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "export", help="write the pseudonymous research export",
        description="Write the research export of HYPERQUEST_DATABASE_URL: participants, datasets, runs, epochs and "
                    "actions, plus manifest.json and SCHEMA.md. Players appear only as pseudonyms keyed with "
                    "HYPERQUEST_PSEUDONYM_SECRET (or one derived from HYPERQUEST_SECRET_KEY).")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="a new or empty directory, or with --zip a zip file that does not exist yet")
    # Checked in run(), not with argparse choices, so a bad value is one line and exit 1.
    parser.add_argument("--format", default="csv", metavar="csv|jsonl", help="file format of the tables (default csv)")
    parser.add_argument("--zip", action="store_true", help="write one zip file instead of a directory")
    parser.set_defaults(run=run)


def _check_out(out: Path, as_zip: bool) -> None:
    if as_zip:
        if out.exists():
            raise ConfigError(f"{out} already exists; choose a new file name")
        if not out.parent.is_dir():
            raise ConfigError(f"the directory {out.parent} does not exist")
        return
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; choose a new or empty directory")
    if not out.exists() and not out.parent.is_dir():
        raise ConfigError(f"the directory {out.parent} does not exist")


def run(args: argparse.Namespace) -> int:
    """Migrate, build the export and write it; one line per problem."""
    if args.format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {args.format!r}")
    out = Path(args.out).expanduser()
    _check_out(out, args.zip)

    from app.db import migrate
    from app.db.session import make_engine, make_session_factory
    from app.research import export
    from app.settings import load_settings

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as db:
            files = export.export_files(db, settings.pseudonym_key, args.format, created_at=dt.datetime.now(dt.timezone.utc))
    finally:
        engine.dispose()
    try:
        if args.zip:
            out.write_bytes(export.zip_bytes(files))
        else:
            export.write_directory(files, out)
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote schema v{export.SCHEMA_VERSION} {args.format} export to {out}")
    return 0
