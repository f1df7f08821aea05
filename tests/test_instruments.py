"""Per-action research instruments over HTTP (SQLite and PostgreSQL): predictions, reason chips, hovers."""

from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import select

from app.classroom.service import class_settings
from app.errors import WebError
from app.research import instruments
from app.research.instruments import CONFIDENCE_HALF_WIDTH, PredictionResult, calibration
from app.runs.models import ActionRecord, EpochRecord
from tests.support.players import ready_player
from tests.webutil import Player


def set_instruments(player: Player, predictions: str, reasons: str) -> None:
    """The class's instrument modes, as the instructor's settings form stores them."""
    with player.app.state.session_factory() as db:
        row = class_settings(db, player.app.state.settings)
        row.predictions, row.reasons = predictions, reasons
        db.commit()


def actions_of(player: Player, run_id: int) -> list[ActionRecord]:
    with player.app.state.session_factory() as db:
        return list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run_id).order_by(ActionRecord.index)))


def val_acc_of(player: Player, action_id: int) -> float:
    with player.app.state.session_factory() as db:
        return db.scalar(select(EpochRecord.val_acc).where(EpochRecord.action_id == action_id))


def error_text(response) -> str:
    found = re.search(r'class="error-message"[^>]*>([^<]+)<', response.text)
    return found.group(1) if found else ""


# ----------------------------------------------------------------------------- pure parsing and scoring


def test_predictions_parse_and_refuse_bad_values():
    assert instruments.parse_prediction({"prediction": "0.75", "confidence": "4"}, "optional") == {"prediction": 0.75, "confidence": 4}
    assert instruments.parse_prediction({"prediction": "62%", "confidence": "1"}, "required") == {"prediction": 0.62, "confidence": 1}
    assert instruments.parse_prediction({}, "optional") == {"prediction": None, "confidence": None}
    assert instruments.parse_prediction({"prediction": "0.5", "confidence": "3"}, "off") == {"prediction": None, "confidence": None}
    for form, words in [({}, "predict the validation accuracy"), ({"prediction": "1.5", "confidence": "3"}, "from 0 to 1"),
                        ({"prediction": "nan", "confidence": "3"}, "from 0 to 1"), ({"prediction": "abc"}, "a number"),
                        ({"prediction": "0.5"}, "how confident"), ({"prediction": "0.5", "confidence": "6"}, "1 to 5")]:
        with pytest.raises(WebError, match=words) as caught:
            instruments.parse_prediction(form, "required")
        assert caught.value.status_code == 422


def test_reasons_parse_in_chip_order_and_refuse_unknown_or_missing():
    parsed = instruments.parse_reasons(["overfitting", "plateau"], "  val   loss rose ", "optional")
    assert parsed == {"reasons": ["plateau", "overfitting"], "reason_text": "val loss rose"}
    assert instruments.parse_reasons([], "", "optional") == {"reasons": None, "reason_text": None}
    assert instruments.parse_reasons(["plateau"], "x", "off") == {"reasons": None, "reason_text": None}
    assert instruments.parse_reasons([], "my own rule", "required")["reason_text"] == "my own rule"
    for chips, text, words in [(["vibes"], "", "unknown reason"), ([], "", "pick at least one"), ([], "x" * 201, "at most 200")]:
        with pytest.raises(WebError, match=words):
            instruments.parse_reasons(chips, text, "required")
    assert instruments.parse_hovers("7") == 7 and instruments.parse_hovers("-3") == 0
    assert instruments.parse_hovers("10**9") is None and instruments.parse_hovers("99999999") == instruments.MAX_HOVERS


def test_calibration_is_mean_absolute_error_and_share_inside_the_stated_interval():
    results = [PredictionResult(2, 0.70, 5, 1, 0.71),   # 0.01 off, inside ±0.02
               PredictionResult(3, 0.70, 5, 2, 0.80),   # 0.10 off, outside ±0.02
               PredictionResult(4, 0.50, 1, 3, 0.74),   # 0.24 off, inside ±0.25
               PredictionResult(5, 0.60, 4, 4, 0.65)]   # 0.05 off, exactly at ±0.05: inside
    c = calibration(results)
    assert c.count == 4
    assert math.isclose(c.mean_absolute_error, (0.01 + 0.10 + 0.24 + 0.05) / 4)
    assert c.inside_share == 0.75
    assert calibration([]) == instruments.Calibration(0, None, None)
    assert list(CONFIDENCE_HALF_WIDTH) == [1, 2, 3, 4, 5]
    assert all(a > b for a, b in zip(CONFIDENCE_HALF_WIDTH.values(), list(CONFIDENCE_HALF_WIDTH.values())[1:]))


# ----------------------------------------------------------------------------- over HTTP


def test_instruments_off_store_nothing_and_show_nothing(player):
    ready_player(player)
    run_id = player.start()
    page = player.client.get(f"/runs/{run_id}/configure")
    assert 'name="prediction"' not in page.text
    assert player.configure(run_id, prediction="0.5", confidence="3").status_code == 303
    player.wait_ready(run_id)
    page = player.client.get(f"/runs/{run_id}")
    assert 'name="prediction"' not in page.text and 'name="reasons"' not in page.text
    assert 'name="chart_hovers"' in page.text  # the counter is always on: it costs the player nothing
    player.play_ready(run_id, prediction="0.5", confidence="3", reasons="plateau", chart_hovers="4")
    first, second = actions_of(player, run_id)
    assert (first.prediction, first.confidence, first.reasons) == (None, None, None)
    assert (second.prediction, second.confidence, second.reasons, second.reason_text) == (None, None, None, None)
    assert second.chart_hovers == 4 and first.chart_hovers is None


def test_optional_predictions_and_chips_are_stored_shown_and_scored(player):
    ready_player(player)
    set_instruments(player, "optional", "optional")
    run_id = player.start()
    assert 'name="prediction"' in player.client.get(f"/runs/{run_id}/configure").text
    assert player.configure(run_id, prediction="0.6", confidence="2").status_code == 303
    player.wait_ready(run_id)
    page = player.client.get(f"/runs/{run_id}")
    assert 'name="prediction"' in page.text and 'value="known_rule"' in page.text
    assert 'id="prediction-outcome"' in page.text  # epoch 1's prediction against its result

    # A bad prediction is refused with the reason, and the action is not taken.
    refused = player.act(run_id, prediction="1.4", confidence="3", reasons="plateau")
    assert refused.status_code == 422 and "from 0 to 1" in error_text(refused)
    assert 'value="plateau" checked' in refused.text  # what the player ticked is still ticked
    refused = player.act(run_id, reasons="vibes")
    assert refused.status_code == 422 and "unknown reason" in error_text(refused)
    assert len(actions_of(player, run_id)) == 1

    # Skipping both is fine when optional; chips and free text are stored with the action.
    player.play_ready(run_id)
    player.play_ready(run_id, prediction="0.55", confidence="4", reasons=["plateau", "exploring"], reason_text="curious",
                      chart_hovers="2")
    player.play_ready(run_id, kind="done", reasons="known_rule")
    actions = actions_of(player, run_id)
    assert [(a.kind, a.prediction, a.confidence) for a in actions] == [
        ("initial", 0.6, 2), ("continue", None, None), ("continue", 0.55, 4), ("done", None, None)]
    assert [a.reasons for a in actions] == [None, None, ["plateau", "exploring"], ["known_rule"]]
    assert actions[2].reason_text == "curious" and actions[2].chart_hovers == 2

    # The result page scores exactly the two predictions against their epochs.
    errors = [abs(val_acc_of(player, actions[0].id) - 0.6), abs(val_acc_of(player, actions[2].id) - 0.55)]
    inside = (errors[0] <= 0.15 + 1e-9) + (errors[1] <= 0.05 + 1e-9)
    result = player.client.get(f"/runs/{run_id}/result")
    assert 'id="calibration"' in result.text
    figures = re.search(r"Mean absolute error</dt><dd>([0-9.]+)</dd>", result.text).group(1)
    assert float(figures) == pytest.approx(sum(errors) / 2, abs=6e-4)
    assert f"{inside} of 2" in result.text


def test_required_instruments_block_only_the_actions_they_apply_to(player):
    ready_player(player)
    set_instruments(player, "required", "required")
    run_id = player.start()
    refused = player.configure(run_id)
    assert refused.status_code == 422 and "predict the validation accuracy" in error_text(refused)
    assert player.configure(run_id, prediction="0.4", confidence="3").status_code == 303
    player.wait_ready(run_id)
    refused = player.act(run_id, reasons="plateau")
    assert refused.status_code == 422 and "predict the validation accuracy" in error_text(refused)
    refused = player.act(run_id, prediction="0.4", confidence="3")
    assert refused.status_code == 422 and "pick at least one reason" in error_text(refused)
    player.play_ready(run_id, prediction="0.45", confidence="3", reason_text="my own rule")
    # Done trains nothing, so there is nothing to predict; its reason is still required.
    refused = player.act(run_id, kind="done")
    assert refused.status_code == 422 and "pick at least one reason" in error_text(refused)
    player.play_ready(run_id, kind="done", reasons="plateau")
    assert [a.kind for a in actions_of(player, run_id)] == ["initial", "continue", "done"]
