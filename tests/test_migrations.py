"""Alembic migrations from empty to head (and back) on SQLite and PostgreSQL."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from app.db import migrate
from app.db.models import Base
from tests.webutil import postgres_available, postgres_database

TABLES = {"students", "survey_responses", "datasets", "runs", "actions", "epochs", "checkpoints", "class_settings", "branches",
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
        # ...and its constraints and indexes too (what autogenerate would still want to change).
        with engine.connect() as connection:
            drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert not [d for d in drift if d[0] in ("add_index", "remove_index", "add_constraint", "remove_constraint")], drift
        migrate.downgrade(url)
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(url)
    finally:
        engine.dispose()


def test_sqlite_empty_to_head_and_back(tmp_path):
    check_round_trip(f"sqlite:///{tmp_path}/m.sqlite3")


@pytest.mark.postgresql
def test_postgresql_empty_to_head_and_back():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        check_round_trip(url)


def check_login_pairs_backfilled(url: str) -> None:
    """0005 gives existing students their compared name and makes the (ID, name) pair the unique key."""
    migrate.upgrade(url, "0004")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO students (student_id, name, role, created_at) "
                                    "VALUES ('s1', '  Ada   LOVELACE ', 'student', CURRENT_TIMESTAMP)"))
        migrate.upgrade(url)
        with engine.begin() as connection:
            assert connection.execute(text("SELECT name_key FROM students")).scalar_one() == "ada lovelace"
            connection.execute(text("INSERT INTO students (student_id, name, name_key, role, created_at) "
                                    "VALUES ('s1', 'Mallory', 'mallory', 'student', CURRENT_TIMESTAMP)"))
        with pytest.raises(Exception, match="(?i)unique"), engine.begin() as connection:
            connection.execute(text("INSERT INTO students (student_id, name, name_key, role, created_at) "
                                    "VALUES ('s1', 'ADA LOVELACE', 'ada lovelace', 'student', CURRENT_TIMESTAMP)"))
    finally:
        engine.dispose()


def test_sqlite_login_pairs_backfilled(tmp_path):
    check_login_pairs_backfilled(f"sqlite:///{tmp_path}/p.sqlite3")


@pytest.mark.postgresql
def test_postgresql_login_pairs_backfilled():
    if not postgres_available():
        pytest.fail("PostgreSQL is not reachable at 127.0.0.1:5432 (.ci/run starts it)")
    with postgres_database() as url:
        check_login_pairs_backfilled(url)
