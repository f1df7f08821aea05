"""Inserting a row unless another transaction just inserted the same one (a get-or-create without races)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_absent(db: Session, model, values: dict, unique: list[str]) -> None:
    """INSERT ``values`` into ``model``'s table, doing nothing where a row with the same ``unique`` columns exists.

    Two processes creating the same row at once (two runners' first bot run, two requests for the
    same job) then both go on, instead of one failing on the unique constraint.
    """
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=unique))
