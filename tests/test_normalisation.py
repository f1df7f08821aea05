"""One normalised score everywhere: 0 = guessing, 1 = the best reference player; ties within one validation example.

The dataset is the one the problem was seen on: default schedule 0.961, automatic player 0.972, linear
classifier 0.300, 386 validation examples. The old scale read the bot's own row as 0.52, the linear
classifier as −33.03 and a player 2 examples below the default as −0.26.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.accounts.models import Student
from app.classroom.service import class_settings
from app.grades.policy import grade_of
from app.leaderboard.scale import scale_of
from app.research import export
from engine.scale import competition_ranks, scale_for
from tests.support.records import dataset_with_baselines, ended_run, student
from tests.webutil import game


def test_scale_reads_what_it_says():
    scale = scale_for(10, 386, {"default": 0.961, "linear": 0.3004, "bot": 0.972})
    assert scale.top_key == "bot" and scale.normalised(0.972) == 1.0  # the automatic player's own row
    assert scale.normalised(0.1) == 0.0  # guessing
    assert scale.normalised(0.961) == pytest.approx(0.9874, abs=1e-4)
    two_below_default = 0.961 - 2 / 386
    assert 0.98 < scale.normalised(two_below_default) < 0.99  # not −0.26
    assert scale.normalised(0.3004) == pytest.approx(0.2298, abs=1e-4)  # not −33.03
    assert scale.compare(0.961 - 0.5 / 386, 0.961) == 0  # half an example: level
    assert scale.compare(two_below_default, 0.961) == -1
    # The best fixed schedule beats the bot: it becomes the 1, and the bot reads below it (never above 1).
    later = scale_for(10, 386, {"default": 0.961, "bot": 0.972, "oracle": 0.975, "random": 0.5}, complete=True)
    assert later.top_key == "oracle" and later.normalised(0.975) == 1.0 and later.normalised(0.972) < 1.0


def test_ties_share_a_rank():
    one = 1 / 386
    assert competition_ranks([0.97, 0.97 - 0.9 * one, 0.97 - 3 * one], one) == [1, 1, 3]
    assert competition_ranks([0.5, 0.5], 0.0) == [1, 1]


def test_leaderboard_result_grade_and_export_use_it(tmp_path):
    with game(f"sqlite:///{tmp_path}/n.sqlite3", pool_size=1) as player:
        assert player.login("s1", "Ada").status_code == 200
        assert player.survey().status_code == 200
        with player.app.state.session_factory() as db:
            dataset = dataset_with_baselines(db)
            ada = db.scalar(select(Student).where(Student.student_id == "s1"))
            bea = student(db, "s2", "Bea")
            ada_run = ended_run(db, ada, dataset, 0.961 - 0.5 / 386)   # half an example below the default
            ended_run(db, bea, dataset, 0.961)
            class_settings(db, player.app.state.settings)
            db.commit()
            ada_run_id, dataset_id = ada_run.id, dataset.id
        board = player.client.get("/leaderboard").text
        assert "1 means matching the best reference player" in board
        bot_row = board[board.index('data-reference="bot"'):].split("</tr>")[0]
        assert "<td>1.00</td>" in bot_row and "the 1.00 of this board" in bot_row
        linear_row = board[board.index('data-reference="linear"'):].split("</tr>")[0]
        assert "<td>0.23</td>" in linear_row
        assert board.count("(tie)") >= 2  # Ada and Bea are within one validation example: both rank 1

        result = player.client.get(f"/runs/{ada_run_id}/result").text
        assert "level with the default schedule (0.961)" in result
        assert "below the default schedule" not in result and 'class="bad"' not in result
        assert "1 = the best reference player here, the automatic player at 0.972" in result
        assert "Your rank on this dataset: <strong>1</strong> of 2" in result

        with player.app.state.session_factory() as db:
            ada = db.scalar(select(Student).where(Student.student_id == "s1"))
            grade = grade_of(db, ada, class_settings(db, player.app.state.settings))
            expected = scale_of(db.get(type(dataset), dataset_id)).normalised(0.961 - 0.5 / 386)
            assert grade.score == pytest.approx(round(100 * expected, 2))  # about 99, not 0 for "below the default"
            tables = export.build_tables(db, b"k" * 32)
        run_row = next(r for r in tables["runs"] if r["run_id"] == ada_run_id)
        assert run_row["normalised_score"] == pytest.approx(expected)
        dataset_row = next(r for r in tables["datasets"] if r["dataset_id"] == dataset_id)
        assert dataset_row["chance"] == 0.1 and dataset_row["normalisation_top"] == 0.972
        assert dataset_row["normalisation_top_player"] == "bot" and dataset_row["normalisation_complete"] is False
