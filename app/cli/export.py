"""``hyperquest export``: write the research export (see docs/export-schema.md) to a directory or a zip."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from engine.errors import ConfigError

FORMATS = ("csv", "jsonl", "parquet")


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser(
        "export", help="write the pseudonymous research export",
        description="Write the research export of HYPERQUEST_DATABASE_URL: participants, datasets, runs, epochs and "
                    "actions, plus manifest.json and SCHEMA.md. Players appear only as pseudonyms keyed with "
                    "HYPERQUEST_PSEUDONYM_SECRET (or one derived from HYPERQUEST_SECRET_KEY); players without "
                    "consent are left out, and times are seconds since each player's first action.")
    parser.add_argument("--out", metavar="PATH",
                        help="a new or empty directory, or with --zip a zip file that does not exist yet")
    # Checked in run(), not with argparse choices, so a bad value is one line and exit 1.
    parser.add_argument("--format", default="csv", metavar="csv|jsonl|parquet",
                        help="file format of the tables (default csv)")
    parser.add_argument("--zip", action="store_true", help="write one zip file instead of a directory")
    parser.add_argument("--session-day", action="store_true",
                        help="fill session_day: the day index since each player's first action")
    parser.add_argument("--exact-times", action="store_true",
                        help="also fill the exact timestamp columns (only if the class settings allow exact times)")
    parser.add_argument("--schema-doc", metavar="PATH",
                        help="instead of exporting, write the schema document (docs/export-schema.md) to PATH")
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


def _write(path: Path, data: bytes | None = None, files: dict[str, bytes] | None = None) -> None:
    from app.research import export

    try:
        if files is None:
            path.write_bytes(data or b"")
        else:
            export.write_directory(files, path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_schema_doc(path: Path) -> int:
    """Write the generated schema document (no database needed)."""
    from app.research.export_doc import schema_markdown

    if not path.parent.is_dir():
        raise ConfigError(f"the directory {path.parent} does not exist")
    _write(path, schema_markdown().encode("utf-8"))
    print(f"wrote the schema document to {path}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Migrate, build the export and write it; one line per problem."""
    if args.schema_doc:
        if args.out:
            raise ConfigError("give either --out or --schema-doc, not both")
        return write_schema_doc(Path(args.schema_doc).expanduser())
    if not args.out:
        raise ConfigError("--out PATH is required (or --schema-doc PATH to write the schema document)")
    if args.format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {args.format[:20]!r}")
    out = Path(args.out).expanduser()
    _check_out(out, args.zip)

    from app.db import migrate
    from app.db.session import make_engine, make_session_factory
    from app.research import export
    from app.settings import load_settings

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    times = export.TimeOptions(session_day=args.session_day, exact=args.exact_times)
    try:
        with make_session_factory(engine)() as db:
            files = export.export_files(db, settings.pseudonym_key, args.format,
                                        created_at=dt.datetime.now(dt.timezone.utc), times=times)
    except (export.ExportError, export.ExactTimesRefused) as exc:
        raise ConfigError(str(exc)) from None
    finally:
        engine.dispose()
    if args.zip:
        _write(out, export.zip_bytes(files))
    else:
        _write(out, files=files)
    times_note = ("exact and relative times" if args.exact_times else "relative times") + (
        ", session day" if args.session_day else "")
    print(f"wrote schema v{export.SCHEMA_VERSION} {args.format} export to {out} ({times_note})")
    return 0
