"""Engines and sessions, chosen by the database URL (SQLite file or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


#: libpq connection parameters for PostgreSQL: fail within seconds when the server is unreachable.
CONNECT_TIMEOUT_SECONDS = 3
TCP_USER_TIMEOUT_MS = 5000
POSTGRES_TIMEOUTS = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
                     "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 2, "keepalives_count": 3}


def make_engine(url: str) -> Engine:
    """An Engine for ``url``; SQLite gets a busy timeout, WAL and foreign keys, its folder created."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # As many connections as request threads (40) plus the runner's: a request never queues for
        # a connection while another waits on SQLite's write lock.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20, max_overflow=30)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the training thread
            # In WAL mode NORMAL is still safe when a process dies (only a power cut can drop the
            # last commits) and a commit needs no fsync, so the write lock is held for far less time.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # Up to 30 connections per web process: FastAPI runs handlers on a 40-thread pool. A database
    # that cannot be reached must fail fast (a page answers 503, a job backs off), never hang: a
    # new connection gives up after CONNECT_TIMEOUT_SECONDS, and one whose packets go unanswered
    # (a network partition) is dropped by the kernel after TCP_USER_TIMEOUT_MS.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=POSTGRES_TIMEOUTS)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Session factory; objects stay readable after commit so views can render them."""
    return sessionmaker(engine, expire_on_commit=False)
