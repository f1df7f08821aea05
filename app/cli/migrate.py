"""``hyperquest migrate``: bring the configured database to the latest schema (Alembic)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser("migrate", help="apply database migrations",
                                   description="Apply every Alembic migration to HYPERQUEST_DATABASE_URL.")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade to head; a database that cannot be reached is a one-line error."""
    from sqlalchemy.exc import OperationalError

    from app.db import migrate
    from app.settings import load_settings
    from engine.errors import ConfigError

    settings = load_settings()
    try:
        migrate.upgrade(settings.database_url)
    except OperationalError as exc:
        raise ConfigError(f"cannot reach the database: {str(exc.orig).strip().splitlines()[0]}") from None
    print(f"database is at the latest schema ({settings.database_url.split('@')[-1]})")
    return 0
