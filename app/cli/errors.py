"""One-line messages for failures a command cannot help: the database it was pointed at cannot be opened."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the message says the setting lives.
HOW_TO_SET = "set HYPERQUEST_DATABASE_URL (or run from the folder whose var/ holds the database)"


def database_problem(exc: BaseException, url: str | None = None) -> str | None:
    """The line for an SQLAlchemy connection error (also when wrapped by Alembic); None for anything else.

    ``url``: the database that was tried (default: the configured one).
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, (ArgumentError, DBAPIError)):
        cause = cause.__cause__ or cause.__context__
    if cause is None or not isinstance(cause, (ArgumentError, OperationalError)):
        return None
    if url is None:
        from app.settings import load_settings

        url = load_settings().database_url
    if isinstance(cause, ArgumentError):
        return f"the database URL {url!r} is not one SQLAlchemy can read: {cause}; {HOW_TO_SET}"
    reason = str(getattr(cause, "orig", cause)).strip().splitlines()[0]
    return f"cannot open the database {describe_url(url)}: {reason}; {HOW_TO_SET}"


def describe_url(url: str) -> str:
    """The database URL as the message names it: a SQLite file with its absolute path, others without a password."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as typed
        return url
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database.removeprefix("file:").split("?", 1)[0])  # a "file:" URI names a path too
        where = path if path.is_absolute() else Path(os.getcwd()) / path
        return f"{url} (the file {where})"
    return parsed.render_as_string(hide_password=True)
