"""Counterfactual branches in the engine and from the command line: they start from the player's exact checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import rules
from engine.actions import Action
from engine.bots import RuleBasedBot
from engine.branches import BranchStart, play_branch
from engine.config import HyperParams
from engine.errors import RuleViolation
from engine.game import Game
from engine.training import evaluate


def _played(dataset, epochs: int, **hparams) -> tuple[Game, list]:
    game = Game(dataset, HyperParams(**{"width": 32, "depth": 2, "lr": 0.01, **hparams}), seed=3)
    outcomes = [game.start()]
    while game.state.epoch < epochs:
        outcomes.append(game.act(Action("continue")))
    return game, outcomes


def _start_at(game: Game, outcome) -> BranchStart:
    m = outcome.metrics
    return BranchStart(outcome.epoch, game.current_checkpoint(), outcome.action, game.best_val_acc,
                       {"train_loss": m.train_loss, "train_acc": m.train_acc, "val_loss": m.val_loss, "val_acc": m.val_acc})


def test_a_branch_starts_from_the_exact_checkpoint_and_keeps_to_the_limits(vector_blobs):
    game, outcomes = _played(vector_blobs, 3)
    start = _start_at(game, outcomes[-1])
    branch = play_branch(start, vector_blobs, RuleBasedBot(), data=game.data)
    first = branch.curve()[0]
    # Evaluated again from the stored checkpoint: exactly what the player saw after epoch 3.
    assert first["kind"] == "start" and first["epoch"] == 3
    assert first["val_acc"] == outcomes[-1].metrics.val_acc
    assert branch.start_val_loss == pytest.approx(outcomes[-1].metrics.val_loss, rel=1e-9)
    # Then it trains on from epoch 4 under the game's limits, with the player's action count carried on.
    trained = [o for o in branch.outcomes if o.kind in ("initial", "continue")]
    assert trained and trained[0].epoch == 4 and trained[0].action == start.actions_used + 1
    last = branch.outcomes[-1]
    assert last.ended and last.epoch <= rules.MAX_EPOCHS and last.action <= rules.MAX_ACTIONS
    assert branch.best_val_acc >= game.best_val_acc  # the player's best so far is part of the branch's run
    assert branch.epochs_trained == len(trained) <= start.epochs_left


def test_a_resumed_game_cannot_revert_past_its_start(vector_blobs):
    game, outcomes = _played(vector_blobs, 2)
    state = game.state
    resumed = Game.resume(vector_blobs, state, game.current_checkpoint(), actions=outcomes[-1].action,
                          best_val_acc=game.best_val_acc, data=game.data)
    with pytest.raises(RuleViolation, match="started from"):
        resumed.act(Action("revert"))
    before = evaluate(resumed.state.network, game.data.val_x, game.data.val_y)
    resumed.act(Action("continue"))
    resumed.act(Action("revert"))  # one trained epoch can be undone: back to the start checkpoint
    assert resumed.state.epoch == 2
    assert evaluate(resumed.state.network, game.data.val_x, game.data.val_y) == before


def test_a_resumed_game_at_the_action_limit_has_ended(vector_blobs):
    game, outcomes = _played(vector_blobs, 1)
    resumed = Game.resume(vector_blobs, game.state, game.current_checkpoint(), actions=rules.MAX_ACTIONS,
                          best_val_acc=game.best_val_acc, data=game.data)
    assert resumed.ended and "actions" in resumed.end_reason


def hyperquest(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.mark.processes
def test_train_json_ends_with_a_debrief_and_branches_from_the_players_checkpoints():
    result = hyperquest("train", "--dataset", "clusters:1", "--size", "tiny", "--width", "32", "--depth", "2",
                        "--lr", "0.1", "--actions", "continue,continue,continue:lr=down,continue", "--json",
                        "--branch-from", "2", "--branch-from", "4")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    report = lines[-1]["debrief"]
    assert isinstance(report["observations"], list)
    for finding in report["observations"]:
        assert {"kind", "epochs", "text"} <= set(finding)
    by_epoch = {line["epoch"]: line for line in lines[:-1] if line.get("kind") in ("initial", "continue")}
    assert [b["from_epoch"] for b in report["branches"]] == [2, 4]
    for branch in report["branches"]:
        start = branch["curve"][0]
        assert start["epoch"] == branch["from_epoch"]
        assert start["val_acc"] == by_epoch[branch["from_epoch"]]["val_acc"]
        assert [p["epoch"] for p in branch["curve"][1:2]] == [branch["from_epoch"] + 1]
        assert branch["best_val_acc"] >= max(by_epoch[e]["val_acc"] for e in by_epoch if e <= branch["from_epoch"])


@pytest.mark.processes
@pytest.mark.parametrize("flag, message", [("0", "between 1 and 29"), ("30", "between 1 and 29"), ("x", "epoch number")])
def test_branch_from_rejects_bad_epochs_before_training(flag, message):
    result = hyperquest("train", "--dataset", "clusters:1", "--size", "tiny", "--branch-from", flag, check=False)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.processes
def test_branch_from_an_epoch_off_the_path_is_a_clear_error():
    result = hyperquest("train", "--dataset", "clusters:1", "--size", "tiny", "--width", "32", "--depth", "2",
                        "--actions", "continue,revert", "--branch-from", "2", "--json", check=False)
    assert result.returncode == 1
    assert "cannot branch from epoch 2" in result.stderr and "path epochs: 1" in result.stderr
    assert "Traceback" not in result.stderr
