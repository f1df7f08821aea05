"""A whole game in memory: actions, reverts, limits and reproducibility."""

import dataclasses

import pytest

from engine.actions import Action, parse_actions
from engine.config import HyperParams
from engine.errors import RuleViolation
from engine.game import Game
from engine.rules import MAX_ACTIONS, MAX_CONSECUTIVE_REVERTS


def play(dataset, text, hp=HyperParams(16, 2, 0.05), seed=0):
    game = Game(dataset, hp, seed=seed)
    outcomes = [game.start()]
    for action in parse_actions(text):
        outcomes.append(game.act(action))
    return game, outcomes


def strip_time(outcomes):
    return [{k: v for k, v in o.as_dict().items() if k != "seconds"} for o in outcomes]


def test_actions_count_and_epochs_follow_the_rules(vector_blobs):
    game, out = play(vector_blobs, "continue,continue:width=up,revert,revert,continue:lr=down,done")
    assert [o.action for o in out] == [1, 2, 3, 4, 5, 6, 7]
    assert [o.epoch for o in out] == [1, 2, 3, 2, 1, 2, 2]
    assert out[2].change is not None and out[2].config.width == 32
    # Revert restores the configuration of the epoch it goes back to.
    assert out[3].config.width == 16 and out[4].config == HyperParams(16, 2, 0.05)
    assert out[3].metrics == out[1].metrics
    assert out[5].config.lr == 0.03
    assert out[-1].ended and out[-1].end_reason == "finished by the player"
    assert game.best_val_acc == max(o.metrics.val_acc for o in out if o.kind in ("initial", "continue"))


def test_same_seed_and_actions_replay_identically(vector_blobs):
    text = "continue,continue:depth=up;dropout=up,revert,continue:lr=up"
    _, a = play(vector_blobs, text)
    _, b = play(vector_blobs, text)
    assert strip_time(a) == strip_time(b)


def test_revert_back_to_the_initial_network(vector_blobs):
    game, out = play(vector_blobs, "revert")
    assert out[-1].epoch == 0 and out[-1].metrics is None
    with pytest.raises(RuleViolation, match="no epoch"):
        game.act(Action("revert"))


def test_at_most_five_consecutive_reverts(vector_blobs):
    game, _ = play(vector_blobs, ",".join(["continue"] * 6) + "," + ",".join(["revert"] * MAX_CONSECUTIVE_REVERTS))
    assert game.state.epoch == 2
    with pytest.raises(RuleViolation, match="in a row"):
        game.act(Action("revert"))
    game.act(Action("continue"))
    game.act(Action("revert"))  # allowed again after a continue


def test_run_ends_after_sixty_actions(vector_blobs):
    tiny = dataclasses.replace(vector_blobs, train_x=vector_blobs.train_x[:64], train_y=vector_blobs.train_y[:64])
    game = Game(tiny, HyperParams(16, 1, 0.01))
    outcome = game.start()
    # Alternate continue/revert so the epoch count stays low and only the action limit ends the run.
    while not outcome.ended:
        outcome = game.act(Action("continue" if outcome.epoch < 2 else "revert"))
    assert outcome.action == MAX_ACTIONS and "60 actions" in outcome.end_reason
    with pytest.raises(RuleViolation, match="ended"):
        game.act(Action("continue"))


def test_impossible_step_is_refused_without_training(vector_blobs):
    game, out = play(vector_blobs, "", hp=HyperParams(256, 2, 0.05))
    with pytest.raises(RuleViolation, match="maximum"):
        game.act(parse_actions("continue:width=up")[0])
    assert game.actions == 1 and game.state.epoch == 1


def test_run_ends_after_thirty_epochs(vector_blobs):
    tiny = dataclasses.replace(vector_blobs, train_x=vector_blobs.train_x[:64], train_y=vector_blobs.train_y[:64])
    game = Game(tiny, HyperParams(16, 1, 0.01))
    outcome = game.start()
    while not outcome.ended:
        outcome = game.act(Action("continue"))
    assert outcome.epoch == 30 and outcome.action == 30 and "30 epochs" in outcome.end_reason
