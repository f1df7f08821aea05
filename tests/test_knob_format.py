"""One way to write a knob value: the ladders, the training page, the replay, hints and debrief texts."""

from __future__ import annotations

import re

from engine.actions import Action
from engine.config import HyperParams
from engine.formatting import config_text, knob_value
from engine.ladders import LADDERS
from tests.support.play import configured_run, sqlite_player

#: Padded exponents ("1e-05") and trailing-zero mantissas ("1.00e-02", "1.00e+00") are what the pages must not show.
OTHER_FORMATS = re.compile(r"\d\.\d+e[+-]\d|e[+-]0\d")


def test_every_ladder_value_has_one_short_form():
    assert [knob_value("lr", v) for v in LADDERS["lr"]] == [
        "1e-5", "3e-5", "1e-4", "3e-4", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
    assert [knob_value("weight_decay", v) for v in LADDERS["weight_decay"]] == [
        "0", "1e-5", "3e-5", "1e-4", "3e-4", "0.001", "0.003", "0.01"]
    assert [knob_value("dropout", v) for v in LADDERS["dropout"]][:3] == ["0", "0.1", "0.2"]
    assert knob_value("width", 64.0) == "64" and knob_value("depth", 4) == "4" and knob_value("lr", None) == "–"
    assert config_text({"width": 64, "depth": 4, "lr": 0.03, "dropout": 0.0, "weight_decay": 1e-5}) == (
        "Width = 64, Depth = 4, Learning rate = 0.03, Dropout = 0, Weight decay = 1e-5")


def test_hint_text_and_ladder_reasons_use_it():
    from app.research.conditions import describe_move
    from engine.ladders import step

    config = HyperParams(64, 4, 0.01, 0.0, 0.0)
    text = describe_move(Action("continue", (("weight_decay", "up"), ("lr", "up"))), config)
    assert "(0 → 1e-5)" in text and "(0.01 → 0.03)" in text
    assert step("lr", "up", 1.0).reason == "learning rate is already at its maximum (1)"


def test_training_page_and_replay_show_one_format(tmp_path):
    with sqlite_player(tmp_path) as player:
        run_id = configured_run(player, lr="0.01")
        page = player.client.get(f"/runs/{run_id}").text
        assert OTHER_FORMATS.search(page) is None, OTHER_FORMATS.search(page).group(0)
        lr_row = page[page.index('data-knob="lr"'):page.index('data-knob="dropout"')]
        assert 'data-next="0.03"' in lr_row and 'data-next="0.003"' in lr_row and "0.01" in lr_row
        wd_row = page[page.index('data-knob="weight_decay"'):]
        assert 'data-next="1e-5"' in wd_row
        assert "Learning rate = 0.01" in page
        from tests.support.staff import instructor_client

        with instructor_client(player) as staff:
            replay = staff.get(f"/instructor/runs/{run_id}/replay").text
        assert OTHER_FORMATS.search(replay) is None, OTHER_FORMATS.search(replay).group(0)
        assert "lr 0.01" in replay
