"""Reference players (random player, fixed schedules) and the regret measures built on their curves."""

import collections
import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from engine.actions import Action
from engine.bots import Observation, is_legal
from engine.calibration import best_val_accuracy
from engine.config import INITIAL_CHOICES, KNOBS, HyperParams, default_hparams
from engine.datasets import make_dataset
from engine.game import Outcome, score
from engine.ladders import LADDERS, step
from engine.references import (
    SCHEDULES, RandomPlayer, ReferenceResult, Schedule, curve_of, legal_moves, play_policy, play_schedule,
    reference_players,
)
from engine.regret import (
    RegretRow, area_per_epoch, best_so_far, curve_score, regret, regret_table,
)
from engine.rules import MAX_ACTIONS, MAX_CONSECUTIVE_REVERTS, MAX_EPOCHS, Progress
from engine.training import BATCH_SIZE, DIVERGENCE_CHECK_EVERY, EpochMetrics, place

#: Tiny "clusters" (vectors, an MLP): a random 30-epoch game takes about half a second.
FAMILY = "clusters"
#: Random-player seeds of the full games; seed 0 wanders into a depth-8 network and takes 5x longer.
SEED_A, SEED_B = 1, 2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train on one thread: these networks are too small to gain from two, and when other test
    processes share the CPU, two threads each oversubscribe it and an epoch gets 10-30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny():
    return make_dataset(FAMILY, 0, "tiny")


class Recorder:
    """Wraps a policy and remembers the actions it chose (the policy itself keeps no state)."""

    def __init__(self, policy):
        self.policy = policy
        self.actions: list[Action] = []

    def initial_config(self):
        return self.policy.initial_config()

    def decide(self, history):
        action = self.policy.decide(history)
        self.actions.append(action)
        return action


@pytest.fixture(scope="module")
def random_games(tiny):
    """Full-budget random games on two seeds: (actions chosen, outcomes)."""
    games = {}
    for seed in (SEED_A, SEED_B):
        recorder = Recorder(RandomPlayer(seed))
        games[seed] = (recorder.actions, play_policy(recorder, tiny, MAX_EPOCHS))
    return games


def obs(action=2, epoch=2, config=HyperParams(64, 4, 0.01), reverts=0, kind="continue"):
    """A hand-made observation; only the counters and the configuration matter to the random player."""
    return Observation(
        action=action, epoch=epoch, config=config, train_loss=0.5, train_acc=0.8, val_loss=0.6, val_acc=0.7,
        diverged=False, best_val_acc=0.7, consecutive_reverts=reverts, kind=kind,
    )


def decisions(player, last, lengths=range(1, 301)):
    """The player's action after histories of many lengths ending in ``last`` (the length drives its rng)."""
    return [player.decide([last] * n) for n in lengths]


def changed_knobs(before: HyperParams, after: HyperParams) -> dict[str, int]:
    """Knob -> rungs moved between two configurations."""
    moved = {}
    for knob in KNOBS:
        ladder = LADDERS[knob]
        a, b = ladder.index(getattr(before, knob)), ladder.index(getattr(after, knob))
        if a != b:
            moved[knob] = b - a
    return moved


# ---------------------------------------------------------------- random player: real games


def test_random_games_respect_every_limit(random_games):
    for actions, outcomes in random_games.values():
        # play_policy goes through Game.act, which raises on any illegal action; check the counters too.
        assert [o.action for o in outcomes] == list(range(1, len(outcomes) + 1))
        assert outcomes[0].kind == "initial"
        assert all(not o.ended for o in outcomes[:-1]) and outcomes[-1].ended
        assert outcomes[-1].action <= MAX_ACTIONS and max(o.epoch for o in outcomes) <= MAX_EPOCHS
        # It never gives up: the game's own limits end the run.
        assert "done" not in [str(a) for a in actions]
        assert outcomes[-1].end_reason in (f"used all {MAX_ACTIONS} actions", f"trained {MAX_EPOCHS} epochs")
        in_a_row = 0
        for outcome in outcomes:
            in_a_row = in_a_row + 1 if outcome.kind == "revert" else 0
            assert in_a_row <= MAX_CONSECUTIVE_REVERTS
        # Every Continue moves at most one knob by one rung from the configuration it starts from.
        for before, after in zip(outcomes, outcomes[1:]):
            if after.kind == "continue":
                moved = changed_knobs(before.config, after.config)
                assert len(moved) <= 1 and all(abs(r) == 1 for r in moved.values()), (before.config, after.config)
    # The games really explored: reverts and knob moves happened.
    all_actions = [a for actions, _ in random_games.values() for a in actions]
    assert any(a.kind == "revert" for a in all_actions)
    assert {k for a in all_actions for k, _ in a.changes} == set(KNOBS)


def test_random_player_is_deterministic_per_seed(tiny, random_games):
    first_actions, first = random_games[SEED_A]
    recorder = Recorder(RandomPlayer(SEED_A))
    again = play_policy(recorder, tiny, MAX_EPOCHS)
    assert [str(a) for a in recorder.actions] == [str(a) for a in first_actions]
    assert curve_of(again) == curve_of(first)


def test_random_player_differs_across_seeds(random_games):
    (a0, _), (a1, _) = random_games[SEED_A], random_games[SEED_B]
    assert [str(a) for a in a0] != [str(a) for a in a1]
    configs = {RandomPlayer(seed).initial_config() for seed in range(20)}
    assert len(configs) > 5
    # Not only the start: the same position gets different choices under different seeds.
    last = obs()
    assert [str(a) for a in decisions(RandomPlayer(0), last)] != [str(a) for a in decisions(RandomPlayer(1), last)]


def test_decide_depends_only_on_the_history(random_games):
    actions, outcomes = random_games[SEED_B]
    history, reverts = [], 0
    for outcome in outcomes[:-1]:  # rebuilt from outcomes alone, as the app does from its rows
        reverts = reverts + 1 if outcome.kind == "revert" else 0
        history.append(Observation.from_outcome(outcome, Progress(outcome.action, outcome.epoch, reverts)))
    fresh = RandomPlayer(SEED_B)
    # Out of order and repeated: a stateless policy gives the same answers.
    order = list(range(len(history)))[::-1] + list(range(len(history)))
    answers = {i: str(fresh.decide(history[: i + 1])) for i in order}
    assert [answers[i] for i in range(len(history))] == [str(a) for a in actions]


# ---------------------------------------------------------------- random player: synthetic edges


def test_initial_config_is_uniform_over_the_game_choices():
    configs = [RandomPlayer(seed).initial_config() for seed in range(300)]
    for knob, choices in INITIAL_CHOICES.items():
        counts = collections.Counter(getattr(c, knob) for c in configs)
        assert set(counts) == set(choices)
        assert min(counts.values()) > 300 / len(choices) * 0.6
    assert all(c.weight_decay == 0.0 for c in configs)


def test_never_reverts_after_five_reverts_in_a_row():
    player = RandomPlayer(3)
    blocked = obs(action=12, epoch=3, reverts=MAX_CONSECUTIVE_REVERTS, kind="revert")
    assert Action("revert") not in legal_moves(blocked)
    assert all(a.kind != "revert" for a in decisions(player, blocked))
    # One revert fewer and Revert is among the choices and does get picked.
    allowed = dataclasses.replace(blocked, consecutive_reverts=MAX_CONSECUTIVE_REVERTS - 1)
    assert any(a.kind == "revert" for a in decisions(player, allowed))


def test_never_an_impossible_move_at_the_ladder_ends():
    player = RandomPlayer(0)
    top = HyperParams(256, 16, 1.0, 1e-2, 0.7)
    bottom = HyperParams(16, 1, 1e-5, 0.0, 0.0)
    for config, possible in ((top, "down"), (bottom, "up")):
        last = obs(config=config)
        chosen = decisions(player, last)
        assert all(is_legal(last, a) for a in chosen)
        assert {d for a in chosen for _, d in a.changes} == {possible}
        # Each of the 5 possible moves, Continue unchanged and Revert all get drawn.
        assert len({str(a) for a in chosen}) == len(KNOBS) + 2


def test_choice_is_uniform_over_the_legal_moves():
    last = obs(config=HyperParams(64, 4, 0.01, 1e-4, 0.3))  # every knob mid-ladder
    moves = legal_moves(last)
    assert len(moves) == 1 + 2 * len(KNOBS) + 1  # continue, every knob up and down, revert
    counts = collections.Counter(str(a) for a in decisions(RandomPlayer(0), last, range(1, 2401)))
    assert set(counts) == {str(m) for m in moves}
    expected = 2400 / len(moves)
    assert all(0.7 * expected < c < 1.3 * expected for c in counts.values()), counts


def test_never_done_while_something_else_is_legal():
    player = RandomPlayer(5)
    # Right after the initial epoch reverted to epoch 0: Revert is impossible, Continue is not.
    at_zero = obs(action=2, epoch=0, reverts=1, kind="revert")
    assert all(a.kind == "continue" for a in decisions(player, at_zero))
    for last in (obs(), obs(action=MAX_ACTIONS - 1, epoch=MAX_EPOCHS - 1), obs(config=HyperParams(16, 1, 1e-5))):
        assert all(a.kind != "done" for a in decisions(player, last))
    # At the action limit nothing is legal any more: then, and only then, Done.
    ended = obs(action=MAX_ACTIONS, epoch=10)
    assert legal_moves(ended) == [] and player.decide([ended]) == Action("done")


def test_decide_needs_a_started_game():
    with pytest.raises(ValueError):
        RandomPlayer().decide([])


# ---------------------------------------------------------------- schedules


def test_schedule_grid_is_the_documented_four():
    assert [s.name for s in SCHEDULES] == ["default", "lr 0.1 constant", "lr 0.1 step decay", "lr 0.01 step decay"]
    by_name = {s.name: s for s in SCHEDULES}
    assert by_name["default"].initial == default_hparams() and by_name["default"].decay_at == ()
    assert by_name["lr 0.1 step decay"].decay_epochs(30) == (10, 20)
    assert by_name["lr 0.01 step decay"].decay_epochs(30) == (15,)


def test_decay_epochs_round_half_up_and_drop_useless_points():
    schedule = Schedule("s", default_hparams(), (1 / 3, 2 / 3))
    assert schedule.decay_epochs(7) == (2, 5)
    assert schedule.decay_epochs(2) == (1,)  # both points land on epoch 1: one decay
    assert schedule.decay_epochs(1) == ()  # no epoch after the first to lower the rate for
    assert Schedule("s", default_hparams(), (0.0, 0.5, 1.0)).decay_epochs(5) == (3,)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_schedule_runs_obey_the_limits_and_decay_at_the_right_epochs(tiny, schedule):
    epochs = 6
    outcomes = play_schedule(tiny, schedule, epochs)
    trained = [o for o in outcomes if o.kind in ("initial", "continue")]
    assert [o.epoch for o in trained] == list(range(1, epochs + 1))
    assert outcomes[-1].kind == "done" and outcomes[-1].action == epochs + 1 and outcomes[-1].ended
    assert all(not o.ended for o in outcomes[:-1])
    lr = schedule.initial.lr
    expected = []
    for epoch in range(1, epochs + 1):
        if epoch - 1 in schedule.decay_epochs(epochs):
            lr = step("lr", "down", lr).value
        expected.append(lr)
    assert [o.config.lr for o in trained] == pytest.approx(expected, rel=1e-9)
    assert all(o.config.replace(lr=schedule.initial.lr) == schedule.initial for o in trained)


def test_step_decay_over_the_full_budget(tiny):
    by_name = {s.name: s for s in SCHEDULES}
    outcomes = play_schedule(tiny, by_name["lr 0.1 step decay"], MAX_EPOCHS)
    # The game itself ends the run at 30 epochs, so no Done is needed.
    assert len(outcomes) == MAX_EPOCHS and outcomes[-1].kind == "continue"
    assert outcomes[-1].end_reason == f"trained {MAX_EPOCHS} epochs"
    lrs = [o.config.lr for o in outcomes]
    assert lrs == pytest.approx([0.1] * 10 + [0.03] * 10 + [0.01] * 10, rel=1e-9)


@pytest.mark.parametrize("family, epochs", [(FAMILY, 5), ("shapes", 2)])
def test_default_schedule_equals_the_calibrated_default(family, epochs):
    dataset = make_dataset(family, 0, "tiny")
    outcomes = play_schedule(dataset, SCHEDULES[0], epochs)
    expected = best_val_accuracy(dataset, default_hparams(), epochs, seed=0)
    assert score(outcomes) == expected
    assert curve_score(curve_of(outcomes)) == expected


def test_data_and_progress_are_passed_through(tiny):
    calls = []
    data = place(tiny)
    outcomes = play_schedule(tiny, SCHEDULES[1], 3, data=data, progress=lambda done, total: calls.append((done, total)))
    # train_epoch reports every DIVERGENCE_CHECK_EVERY batches and after the last, in every epoch.
    batches = max(1, round(len(tiny.train_y) / BATCH_SIZE))
    per_epoch = [(i, batches) for i in range(1, batches + 1) if i % DIVERGENCE_CHECK_EVERY == 0 or i == batches]
    assert batches > 1 and calls == per_epoch * 3
    assert curve_of(outcomes) == curve_of(play_schedule(tiny, SCHEDULES[1], 3))


def test_play_policy_stops_at_the_epoch_budget(tiny, random_games):
    outcomes = play_policy(RandomPlayer(SEED_A), tiny, 4)
    assert outcomes[-1].kind == "done" and outcomes[-1].epoch == 4
    assert max(o.epoch for o in outcomes) == 4
    # Up to the budget it made the same choices as in the full game.
    full = random_games[SEED_A][1]
    assert [o.kind for o in outcomes[:-1]] == [o.kind for o in full[: len(outcomes) - 1]]
    for bad in (0, MAX_EPOCHS + 1):
        with pytest.raises(ValueError):
            play_policy(RandomPlayer(0), tiny, bad)


# ---------------------------------------------------------------- curves and the result


def metrics(epoch, val_acc, diverged=False):
    return EpochMetrics(epoch, 0.5, 0.6, float("nan") if diverged else 0.7, val_acc, diverged, 0.1)


def test_curve_of_counts_every_trained_epoch_and_only_those():
    config = default_hparams()
    m1, m2, m3 = metrics(1, 0.5), metrics(2, 0.25, diverged=True), metrics(2, 0.75)
    outcomes = [
        Outcome(1, "initial", 1, config, m1, None, 0.5, False, None),
        Outcome(2, "continue", 2, config, m2, None, 0.5, False, None),
        Outcome(3, "revert", 1, config, m1, None, 0.5, False, None),
        Outcome(4, "continue", 2, config, m3, None, 0.75, False, None),
        Outcome(5, "done", 2, config, m3, None, 0.75, True, "finished by the player"),
    ]
    assert curve_of(outcomes) == [0.5, None, 0.75]


def test_curve_score_matches_the_game_score(random_games):
    for _, outcomes in random_games.values():
        curve = curve_of(outcomes)
        assert len(curve) == sum(o.kind in ("initial", "continue") for o in outcomes)
        assert curve_score(curve) == score(outcomes)


def test_oracle_is_the_best_schedule_with_ties_to_the_first():
    result = ReferenceResult(
        random=[0.25, None, 0.5],
        # Dict order differs from SCHEDULES: the tie between two 0.75s goes to the earlier schedule.
        schedules={"lr 0.01 step decay": [0.5, 0.75], "lr 0.1 constant": [None, 0.75, 0.5], "default": [0.625]},
    )
    assert result.random_score == 0.5
    assert result.oracle_name == "lr 0.1 constant"
    assert result.oracle_score == 0.75
    assert result.oracle_curve == [None, 0.75, 0.5]
    empty = ReferenceResult(random=[], schedules={"default": [None]})
    assert empty.random_score is None and empty.oracle_name is None and empty.oracle_score is None


def test_result_round_trips_through_json():
    result = ReferenceResult(random=[0.25, None], schedules={"default": [0.5, 1.0], "lr 0.1 constant": [None]})
    stored = json.loads(json.dumps(result.as_dict()))
    stored["schedules"]["default"][1] = 1  # JSON may hand back an int
    again = ReferenceResult.from_dict(stored)
    assert again == result and isinstance(again.schedules["default"][1], float)


# ---------------------------------------------------------------- reference_players


def test_reference_players_uses_known_curves_instead_of_training(tiny):
    known = [0.25, None, 0.5]
    result = reference_players(tiny, 3, known={"default": known})
    assert list(result.schedules) == [s.name for s in SCHEDULES]
    assert result.schedules["default"] == known
    for schedule in SCHEDULES[1:]:
        assert result.schedules[schedule.name] == curve_of(play_schedule(tiny, schedule, 3))
    assert result.random == curve_of(play_policy(RandomPlayer(0), tiny, 3))
    assert result.oracle_score >= 0.5
    # Three schedules and the random player, 3 epochs each, less the first epoch the lr 0.1 ones share.
    assert result.epochs_trained == 4 * 3 - 1


def test_reference_players_skips_and_trains_as_asked(tiny):
    result = reference_players(tiny, 2, skip=("default", "lr 0.1 constant"))
    assert list(result.schedules) == ["lr 0.1 step decay", "lr 0.01 step decay"]
    result = reference_players(tiny, 2, skip=(), random_seed=4)
    assert list(result.schedules) == [s.name for s in SCHEDULES]
    assert result.random == curve_of(play_policy(RandomPlayer(4), tiny, 2))
    with pytest.raises(ValueError):
        reference_players(tiny, 2, known={"defualt": [0.5]})


# ---------------------------------------------------------------- regret measures


def test_best_so_far_keeps_the_best_through_diverged_epochs():
    assert best_so_far([None, 0.25, None, 0.75, 0.5]) == [0.0, 0.25, 0.25, 0.75, 0.75]
    assert best_so_far([]) == []
    assert best_so_far([None, None]) == [0.0, 0.0]


def test_area_per_epoch_rewards_early_accuracy_and_penalises_wasted_epochs():
    assert area_per_epoch([None, 0.25, None, 0.75]) == 0.3125  # (0 + .25 + .25 + .75) / 4
    assert area_per_epoch([0.75, 0.25]) == 0.75
    assert area_per_epoch([0.25, 0.75]) == 0.5  # same score, reached later: smaller area
    assert area_per_epoch([]) is None


def test_regret():
    assert regret(0.5, 0.75) == 0.25
    assert regret(None, 0.75) is None and regret(0.5, None) is None


def test_regret_table():
    rows = regret_table({"student": [0.25, 0.5], "random": [None, 0.25], "nothing": []}, oracle=0.75)
    assert rows == [
        RegretRow("student", 0.5, 0.25, 0.375),
        RegretRow("random", 0.25, 0.5, 0.125),
        RegretRow("nothing", None, None, None),
    ]
    assert regret_table({"student": [0.5]}, oracle=None) == [RegretRow("student", 0.5, None, 0.5)]


@pytest.mark.processes
def test_regret_module_needs_no_torch():
    code = "import sys, engine.regret; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
