"""One contract over every backend: the same action scripts through Game (memory), SQLite and PostgreSQL end the same way.

Both backends take their transitions from engine.play; this suite is what ties them together.
Each step's counters, configuration, best score and ending must match exactly, and so must the
validation accuracy each epoch reached (the same seed, data and checkpoints on both sides).
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.runs.models import CheckpointRecord
from engine import play, rules
from engine.actions import Action
from engine.config import HyperParams
from engine.errors import RuleViolation
from engine.game import Game
from tests.support.players import ready_player
from tests.webutil import Player

CONFIG = {"width": 32, "depth": 2, "lr": 0.1, "dropout": 0.0}
C, R, D = Action("continue"), Action("revert"), Action("done")


def lr(direction: str) -> Action:
    return Action("continue", (("lr", direction),))


def grow(knob: str) -> Action:
    return Action("continue", ((knob, "up"),))


SCRIPTS = {
    "revert_and_decay": [C, C, R, lr("down"), C, D],
    "grow_then_revert_twice": [grow("width"), C, R, R, grow("depth"), D],
    # Five reverts in a row are the most: the sixth is refused on both backends.
    "revert_limit": [C, C, C, C, C, R, R, R, R, R, R, C, D],
    # The epoch limit ends the run by itself (epoch 30): nothing more may be done.
    "epoch_limit": [C] * (rules.MAX_EPOCHS - 1) + [C],
    "revert_to_the_start": [R, C, D],
}


@dataclasses.dataclass(frozen=True)
class Step:
    """What one action left behind, on either backend (None for a refused action)."""

    counters: play.RunCounters | None
    config: dict | None
    val_acc: float | None


def play_in_memory(dataset, seed: int, script: list[Action]) -> list[Step]:
    game = Game(dataset, HyperParams.from_dict({**CONFIG, "weight_decay": 0.0}), seed=seed)
    steps = [_memory_step(game, game.start())]
    for action in script:
        try:
            outcome = game.act(action)
        except RuleViolation:
            steps.append(Step(None, None, None))
            continue
        steps.append(_memory_step(game, outcome))
    return steps


def _memory_step(game: Game, outcome) -> Step:
    val = outcome.metrics.val_acc if outcome.metrics is not None and outcome.kind in ("initial", "continue") else None
    return Step(game.counters, game.state.hparams.as_dict(), val)


def play_over_http(player: Player, run_id: int, script: list[Action]) -> list[Step]:
    assert player.configure(run_id, **{k: str(v) for k, v in CONFIG.items()}).status_code == 303
    steps = [_web_step(player, player.wait_ready(run_id), trained=True)]
    for action in script:
        knobs = dict(action.changes)
        response = player.act(run_id, action.kind, **knobs)
        if response.status_code == 422:
            steps.append(Step(None, None, None))
            continue
        assert response.status_code == 303, response.text
        steps.append(_web_step(player, player.wait_ready(run_id), trained=action.kind == "continue"))
    return steps


def _web_step(player: Player, run, trained: bool) -> Step:
    from app.runs.service import counters_of, path_epochs

    with player.app.state.session_factory() as db:
        path = path_epochs(db, run)
        val = path[-1].val_acc if trained and path else None
    return Step(counters_of(run), dict(run.config), val)


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_every_backend_plays_the_script_the_same(player, name):
    script = SCRIPTS[name]
    ready_player(player)
    run_id = player.start()
    with player.app.state.session_factory() as db:
        run = player.run(run_id)
        record = db.get(DatasetRecord, run.dataset_id)
        dataset = datasets.generated(record.family, record.seed, record.size)
        seed = run.seed
    in_memory = play_in_memory(dataset, seed, script)
    stored = play_over_http(player, run_id, script)
    assert len(in_memory) == len(stored) == len(script) + 1
    for number, (expected, got) in enumerate(zip(in_memory, stored)):
        assert got == expected, f"step {number} ({'initial' if number == 0 else script[number - 1]}) differs"
    assert [s for s in in_memory if s.counters is not None][-1].counters.ended  # every script plays to the end


def test_the_first_job_builds_the_untrained_network(player):
    """No torch in the request: configure stores choices only; the first epoch's job makes checkpoint 0."""
    ready_player(player)
    run_id = player.start()
    assert player.configure(run_id, **{k: str(v) for k, v in CONFIG.items()}).status_code == 303
    player.wait_ready(run_id)
    with player.app.state.session_factory() as db:
        epochs = set(db.scalars(select(CheckpointRecord.epoch_number).where(CheckpointRecord.run_id == run_id)))
        assert {0, 1} <= epochs
        assert db.scalar(select(func.count()).select_from(CheckpointRecord)
                         .where(CheckpointRecord.run_id == run_id, CheckpointRecord.epoch_number == 0)) == 1
    # Revert reaches it: back to the start, and the next epoch trains from it again.
    assert player.act(run_id, "revert").status_code == 303
    run = player.wait_ready(run_id)
    assert (run.epoch, run.consecutive_reverts) == (0, 1)
    player.play_ready(run_id)
    assert player.run(run_id).epoch == 1


def test_the_pure_transitions():
    start = play.start(play.RunCounters())
    assert start == play.RunCounters(actions=1)
    trained = play.after_epoch(start, 1, 0.5, diverged=False)
    assert (trained.epoch, trained.best_val_acc, trained.ended) == (1, 0.5, False)
    assert play.after_epoch(trained, 2, 0.9, diverged=True).best_val_acc == 0.5  # a diverged epoch is never the best
    reverted = play.after_revert(play.take(trained, R), 0)
    assert (reverted.actions, reverted.epoch, reverted.consecutive_reverts) == (2, 0, 1)
    with pytest.raises(RuleViolation, match="no epoch has been trained"):
        play.take(reverted, R)
    last = play.after_epoch(play.RunCounters(actions=rules.MAX_EPOCHS), rules.MAX_EPOCHS, 0.7, False)
    assert last.ended and last.end_reason == f"trained {rules.MAX_EPOCHS} epochs"
    done = play.finish(play.take(trained, D))
    assert done.ended and done.end_reason == play.PLAYER_DONE
    with pytest.raises(RuleViolation, match="has ended"):
        play.take(done, C)
