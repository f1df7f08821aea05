"""Shared-prefix play: forks of a game, policies played in lockstep, fork points noted on one path and resumed later."""

import dataclasses

import pytest
import torch

from engine import references
from engine.actions import Action, parse_action
from engine.bots import Observation, RuleBasedBot
from engine.config import HyperParams, default_hparams
from engine.errors import CheckpointError
from engine.game import Game
from engine.lockstep import ForkPoint, ForkRecorder, play_recording, play_together, resume
from engine.rules import Progress
from engine.references import RandomPlayer, Schedule, SchedulePlayer, curve_of, play_policy, schedule_player
from tests.support.datasets import blob_dataset

#: Budgets that make the schedules decay inside them: "lr 0.1 step decay" at 2 and 4, "lr 0.01 step decay" at 3.
EPOCHS = 6


@pytest.fixture(scope="module")
def image_blobs():
    """Small [3,8,8] images: playing in lockstep works the same at any size, and 8x8 trains far faster than 32x32."""
    return blob_dataset("image", side=8)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread: the networks are tiny and other processes share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def without_time(outcomes):
    """Everything an outcome holds except the seconds its epoch took."""
    return [{k: v for k, v in o.as_dict().items() if k != "seconds"} for o in outcomes]


def alone(policies, dataset, epochs):
    """Each policy played on its own game."""
    return [play_policy(p, dataset, epochs) for p in policies]


def trained_epochs(outcomes):
    """Epochs a run trained (reverted ones included)."""
    return sum(o.kind in ("initial", "continue") for o in outcomes)


class Script:
    """A policy that plays a fixed list of actions by position in the history (a pure function of it)."""

    def __init__(self, name, text, initial=HyperParams(16, 2, 0.05)):
        self.name = name
        self.actions = [parse_action(t) for t in text.split(",")]
        self.initial = initial

    def initial_config(self):
        return self.initial

    def decide(self, history):
        index = len(history) - 1
        return self.actions[index] if index < len(self.actions) else Action("done")


# ----------------------------------------------------------------------------- Game.fork


def test_a_fork_goes_on_exactly_as_the_game_and_independently(vector_blobs):
    game = Game(vector_blobs, HyperParams(16, 2, 0.05, dropout=0.3))
    game.start()
    game.act(parse_action("continue:width=up"))
    twin = game.fork()
    script = ["continue", "revert", "revert", "continue:depth=up;lr=down", "continue"]
    ours = [game.act(parse_action(t)) for t in script]
    # The game moved on (and reverted twice) without touching its twin, which now does the same.
    assert twin.actions == 2 and twin.state.epoch == 2
    theirs = [twin.act(parse_action(t)) for t in script]
    assert without_time(theirs) == without_time(ours)
    assert twin.best_val_acc == game.best_val_acc and twin.best_checkpoint == game.best_checkpoint
    for a, b in zip(twin.state.network.state_dict().values(), game.state.network.state_dict().values()):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- play_together


@pytest.mark.parametrize("names", [("default", "lr 0.01 step decay"), ("lr 0.1 constant", "lr 0.1 step decay", "bot")])
def test_shared_play_gives_each_policy_its_own_outcomes(image_blobs, names):
    policies = [RuleBasedBot() if n == "bot" else schedule_player(n, EPOCHS) for n in names]
    shared = play_together(policies, image_blobs, EPOCHS)
    separate = alone(policies, image_blobs, EPOCHS)
    for played, expected in zip(shared.outcomes, separate):
        assert without_time(played) == without_time(expected)
    # The policies really differ, and the epochs they share were trained once.
    runs = [without_time(o) for o in separate]
    assert all(a != b for a, b in zip(runs, runs[1:]))
    assert shared.epochs_trained < sum(trained_epochs(o) for o in separate)


def test_shared_epochs_are_counted_once(vector_blobs):
    policies = [schedule_player("default", EPOCHS), schedule_player("lr 0.01 step decay", EPOCHS)]
    shared = play_together(policies, vector_blobs, EPOCHS)
    # The step decay parts from the default after epoch 3: 6 epochs + its own last 3.
    assert shared.epochs_trained == EPOCHS + EPOCHS // 2


def test_forks_after_reverts_and_growth_reach_the_same_checkpoints(vector_blobs):
    common = "continue:width=up,revert,continue:dropout=up,continue,continue:lr=down"
    policies = [Script("a", common + ",revert,revert,continue"), Script("b", common + ",continue:depth=up,revert,revert"),
                Script("c", common + ",revert,continue:width=up,done")]
    shared = play_together(policies, vector_blobs, 8)
    for played, expected in zip(shared.outcomes, alone(policies, vector_blobs, 8)):
        assert without_time(played) == without_time(expected)
    # 5 epochs in common; then a and c share a revert and train one epoch each, b one.
    assert shared.epochs_trained == 5 + 1 + 1 + 1


def test_players_with_other_starts_play_apart_in_the_order_given(vector_blobs):
    policies = [RandomPlayer(3), schedule_player("default", 3), RandomPlayer(1)]
    shared = play_together(policies, vector_blobs, 3)
    for played, expected in zip(shared.outcomes, alone(policies, vector_blobs, 3)):
        assert without_time(played) == without_time(expected)
    with pytest.raises(ValueError):
        play_together(policies, vector_blobs, 0)


# ----------------------------------------------------------------------------- fork points


def test_baselines_then_references_give_the_separate_curves(image_blobs):
    """The baselines job plays the default schedule and the bot noting fork points; the references job resumes them."""
    default_outcomes, default_forks = references.play_default_recording(image_blobs, EPOCHS)
    bot = RuleBasedBot()
    recorder = references.fork_recorder(bot.initial_config(), EPOCHS)
    assert recorder.following == ["lr 0.1 constant", "lr 0.1 step decay"]
    bot_outcomes, bot_forks = play_recording(bot, references.followers(bot.initial_config(), EPOCHS), image_blobs, EPOCHS)
    # Stored and loaded again, as the app keeps them between its two jobs.
    forks = [ForkPoint.from_bytes(f.to_bytes()) for f in default_forks + bot_forks]
    assert [f.players for f in default_forks] == [("lr 0.01 step decay",)]
    assert default_forks[0].counters.epoch == 3

    result = references.reference_players(image_blobs, EPOCHS, known={"default": curve_of(default_outcomes)}, forks=forks)
    expected = {s.name: curve_of(references.play_schedule(image_blobs, s, EPOCHS)) for s in references.SCHEDULES}
    assert result.schedules == expected
    assert result.random == curve_of(play_policy(RandomPlayer(0), image_blobs, EPOCHS))
    # The baselines themselves are what they are when played alone.
    assert without_time(default_outcomes) == without_time(references.play_schedule(image_blobs, references.SCHEDULES[0], EPOCHS))
    assert without_time(bot_outcomes) == without_time(play_policy(bot, image_blobs, EPOCHS))
    # The epochs before each fork were not trained again (players resumed from one fork may share more).
    separate = sum(len(expected[name]) for name in references.SCHEDULE_NAMES[1:]) + len(result.random)
    shared_epochs = sum(sum(o.trained for o in f.history) * len(f.players) for f in forks)
    assert shared_epochs >= EPOCHS // 2 + 1 and result.epochs_trained <= separate - shared_epochs


def test_reference_players_without_fork_points_match_the_separate_computation(vector_blobs):
    result = references.reference_players(vector_blobs, EPOCHS, skip=())
    for schedule in references.SCHEDULES:
        assert result.schedules[schedule.name] == curve_of(references.play_schedule(vector_blobs, schedule, EPOCHS))
    assert list(result.schedules) == list(references.SCHEDULE_NAMES)
    # default + its step decay share 3 epochs, the two lr 0.1 schedules 2; the random player starts elsewhere.
    assert result.epochs_trained == 5 * EPOCHS - 3 - 2


def test_followers_still_on_the_path_at_its_end_share_all_of_it(vector_blobs):
    twin = SchedulePlayer(Schedule("twin", default_hparams()), EPOCHS)
    outcomes, forks = play_recording(schedule_player("default", EPOCHS), [twin], vector_blobs, EPOCHS)
    assert len(forks) == 1 and forks[0].checkpoint is None and forks[0].players == ("twin",)
    again = ForkPoint.from_bytes(forks[0].to_bytes())
    [resumed], trained = resume(again, [twin], vector_blobs, EPOCHS)
    assert trained == 0 and resumed.outcomes == [] and resumed.curve == curve_of(outcomes)


def test_resumed_outcomes_are_the_tail_of_the_separate_run(vector_blobs):
    _, [fork] = references.play_default_recording(vector_blobs, EPOCHS)
    step = schedule_player("lr 0.01 step decay", EPOCHS)
    [resumed], trained = resume(fork, [step], vector_blobs, EPOCHS)
    separate = play_policy(step, vector_blobs, EPOCHS)
    assert without_time(resumed.outcomes) == without_time(separate[len(fork.history):])
    assert trained == EPOCHS - fork.counters.epoch and resumed.curve == curve_of(separate)


def test_recorder_refuses_followers_that_start_elsewhere(vector_blobs):
    outcomes = play_policy(schedule_player("default", 2), vector_blobs, 2)
    recorder = ForkRecorder([schedule_player("lr 0.1 constant", 2)], 2)
    history = [Observation.from_outcome(outcomes[0], Progress(1, 1, 0))]
    with pytest.raises(ValueError, match="start as the path did"):
        recorder.step(history, Action("continue"), lambda: b"")


def test_fork_point_round_trips_and_rejects_damage(vector_blobs):
    _, [fork] = references.play_default_recording(vector_blobs, 4)
    again = ForkPoint.from_bytes(fork.to_bytes())
    assert again == fork and isinstance(again.history[0].val_acc, float)
    assert ForkPoint.from_dict(fork.as_dict(), fork.checkpoint) == fork
    blob = fork.to_bytes()
    for damaged in (b"", blob[:20], blob[:8] + b"!" + blob[9:], len(b"[]").to_bytes(8, "little") + b"[]"):
        with pytest.raises(CheckpointError):
            ForkPoint.from_bytes(damaged)
    header = fork.as_dict()
    with pytest.raises(CheckpointError):
        ForkPoint.from_dict(header, None)  # not ended, so it needs its checkpoint
    with pytest.raises(CheckpointError):
        ForkPoint.from_dict({**header, "players": []}, fork.checkpoint)


def test_reference_players_rejects_fork_points_of_unknown_or_repeated_players(vector_blobs):
    _, [fork] = references.play_default_recording(vector_blobs, 4)
    with pytest.raises(ValueError):
        references.reference_players(vector_blobs, 4, forks=[fork, fork])
    with pytest.raises(ValueError):
        references.reference_players(vector_blobs, 4, forks=[dataclasses.replace(fork, players=("oracle",))])
