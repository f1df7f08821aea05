"""Alembic migrations from empty to head (and back) on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import create_engine, inspect

from app.db import migrate
from app.db.models import Base
from tests.webutil import postgres_available, postgres_database

TABLES = {"students", "survey_responses", "datasets", "runs", "actions", "epochs", "checkpoints", "class_settings",
          "staff_accounts", "web_sessions"}


def check_round_trip(url: str) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        assert TABLES <= set(inspector.get_table_names())
        # The schema the migrations build matches the models' columns.
        for table in Base.metadata.sorted_tables:
            migrated = {c["name"] for c in inspector.get_columns(table.name)}
            assert migrated == {c.name for c in table.columns}, table.name
        migrate.downgrade(url)
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(url)
    finally:
        engine.dispose()


def test_sqlite_empty_to_head_and_back(tmp_path):
    check_round_trip(f"sqlite:///{tmp_path}/m.sqlite3")


def test_postgresql_empty_to_head_and_back():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        check_round_trip(url)
