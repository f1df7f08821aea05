"""``hyperquest staff create|list``: instructor and researcher accounts."""

from __future__ import annotations

import argparse
import getpass
import sys

from engine.errors import ConfigError


def add_parser(subparsers) -> None:
    """Register the subcommand."""
    parser = subparsers.add_parser("staff", help="create or list instructor and researcher accounts",
                                   description="Manage staff accounts. The password is read from the terminal "
                                               "(twice), or from the first line of standard input when piped.")
    actions = parser.add_subparsers(dest="staff_command", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=("instructor", "researcher"))
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list accounts")
    listing.set_defaults(run=run_list)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise ConfigError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _session():
    from app.db import migrate
    from app.db.session import make_engine, make_session_factory
    from app.settings import load_settings

    settings = load_settings()
    migrate.upgrade(settings.database_url)
    return make_session_factory(make_engine(settings.database_url))()


def run_create(args: argparse.Namespace) -> int:
    """Create the account, or fail with one line (bad name, weak password, duplicate)."""
    from app.errors import WebError
    from app.staff.service import create_account

    password = _read_password()
    with _session() as db:
        try:
            account = create_account(db, args.username, password, args.role)
        except WebError as exc:
            raise ConfigError(exc.message) from None
        db.commit()
        print(f"created {account.role} {account.username!r}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """Print every account's username, role and creation date."""
    from sqlalchemy import select

    from app.staff.models import StaffAccount

    with _session() as db:
        for account in db.scalars(select(StaffAccount).order_by(StaffAccount.username)):
            print(f"{account.username}\t{account.role}\t{account.created_at:%Y-%m-%d}")
    return 0
