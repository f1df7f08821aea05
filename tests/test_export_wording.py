"""The export says exactly who is in it and what its times are relative to."""

from __future__ import annotations

from app.research import export
from tests.support.play import sqlite_player
from tests.support.staff import staff_client


def test_without_a_study_every_player_is_exported_as_not_asked(tmp_path):
    with sqlite_player(tmp_path, pool_size=1) as player:
        with player.app.state.session_factory() as db:
            participants = export.build_tables(db, b"k" * 32)["participants"]
        assert [p["consent"] for p in participants] == ["not asked"]
        with staff_client(player, "researcher") as researcher:
            page = researcher.get("/research").text
        assert "everything consenting players did" not in page
        assert "In a class that runs no study, every player" in page and "No class runs a study now" in page
        assert "Times before it are negative" in page and "joined_s" in page


def test_schema_doc_explains_negative_join_times_and_decision_time():
    doc = export.schema_markdown()
    joined = next(line for line in doc.splitlines() if line.startswith("| `joined_s`"))
    assert "Negative for nearly everyone" in joined
    assert "every player (no consent was asked; `participants.consent` says `not asked`)" in doc
    assert "| `decision_s` |" in doc and "training wait" in doc
    assert export.SCHEMA_DOC.read_text() == doc  # the checked-in copy is the generated one
