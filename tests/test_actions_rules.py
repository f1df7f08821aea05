"""Action strings, ladders and the game's limits."""

import pytest

from engine import rules
from engine.actions import Action, parse_action, parse_actions
from engine.config import HyperParams
from engine.errors import ActionSyntaxError, RuleViolation
from engine.ladders import LR_LADDER, all_steps, apply_changes, step


def test_parse_the_issue_example():
    actions = parse_actions("continue,continue:width=up,continue:depth=up;lr=down,revert,done")
    assert [str(a) for a in actions] == ["continue", "continue:width=up", "continue:depth=up;lr=down", "revert", "done"]
    assert actions[2].change_map == {"depth": "up", "lr": "down"}


def test_same_is_the_default_direction():
    assert parse_action("continue:lr=same") == parse_action("continue")


@pytest.mark.parametrize(
    "text",
    ["jump", "continue:width", "continue:width=sideways", "continue:size=up", "revert:lr=up",
     "continue:lr=up;lr=down", "continue:", "continue,,done", "done:x=y"],
)
def test_malformed_actions_raise(text):
    with pytest.raises(ActionSyntaxError):
        parse_actions(text)


def test_ladders_move_and_explain_the_ends():
    assert step("lr", "up", 0.01).value == 0.03
    assert step("lr", "down", 0.01).value == 0.003
    assert step("weight_decay", "up", 0.0).value == 1e-5
    assert step("dropout", "up", 0.5).value == 0.6
    assert step("width", "up", 64).value == 128
    assert step("depth", "down", 4).value == 2
    top = step("lr", "up", LR_LADDER[-1])
    assert not top.possible and "maximum" in top.reason
    assert "minimum" in step("weight_decay", "down", 0.0).reason
    assert "maximum" in step("width", "up", 256).reason
    assert "minimum" in step("depth", "down", 1).reason
    # Off-ladder values move to the neighbouring rung.
    assert step("lr", "up", 0.05).value == 0.1 and step("lr", "down", 0.05).value == 0.03


def test_apply_changes_refuses_impossible_steps():
    hp = HyperParams(256, 4, 0.01)
    with pytest.raises(RuleViolation, match="maximum"):
        apply_changes(hp, {"width": "up"})
    assert apply_changes(hp, {"width": "down", "dropout": "up"}) == HyperParams(128, 4, 0.01, 0.0, 0.1)


def test_all_steps_lists_every_knob_and_direction():
    steps = all_steps(HyperParams(32, 2, 0.1))
    assert set(steps) == {"lr", "weight_decay", "dropout", "width", "depth"}
    assert steps["weight_decay"]["down"].possible is False
    assert steps["width"]["up"].value == 64


def test_rules():
    fresh = rules.Progress(actions=1, epoch=1, consecutive_reverts=0)
    rules.check(fresh, Action("revert"))
    with pytest.raises(RuleViolation, match="5 reverts in a row"):
        rules.check(rules.Progress(7, 3, 5), Action("revert"))
    with pytest.raises(RuleViolation, match="no epoch"):
        rules.check(rules.Progress(3, 0, 2), Action("revert"))
    with pytest.raises(RuleViolation, match="60 actions"):
        rules.check(rules.Progress(60, 20, 0), Action("continue"))
    with pytest.raises(RuleViolation, match="30 epochs"):
        rules.check(rules.Progress(40, 30, 0), Action("done"))
    with pytest.raises(RuleViolation, match="ended"):
        rules.check(rules.Progress(4, 3, 0, ended=True), Action("continue"))
