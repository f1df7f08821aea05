"""Several deterministic policies played from one start, with the epochs they have in common trained once.

A policy (engine.bots, engine.references) is a pure function of its history, so policies that
start from the same configuration and network seed take the same actions, and reach the same
states, until the first step where their choices differ. :func:`play_together` plays that common
prefix once and, where choices part, forks the game (engine.game.Game.fork: weights, momentum,
RNG, counters, revert path) and goes on with each group separately. Every policy's outcomes are
those it would have had alone; only the ``seconds`` of the shared epochs are measured once.

Where the prefix is played by someone else (the web app plays the automatic player through its
database), a :class:`ForkRecorder` watches that path and notes a :class:`ForkPoint` wherever a
follower would leave it; :func:`resume` later goes on from each fork point.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
from typing import Callable, Iterable, Sequence

from engine import checkpoint, rules
from engine.actions import Action, trains_an_epoch
from engine.bots import Observation
from engine.config import HyperParams
from engine.datasets import Dataset
from engine.errors import CheckpointError
from engine.game import Game, Outcome
from engine.training import DeviceData, ProgressCallback, place

DONE = Action("done")


def check_budget(epochs: int) -> None:
    """An epoch budget is between 1 and the game's own limit."""
    if not 1 <= epochs <= rules.MAX_EPOCHS:
        raise ValueError(f"epochs must be between 1 and {rules.MAX_EPOCHS}, got {epochs!r}")


def next_action(policy, history: Sequence[Observation], epochs: int) -> Action:
    """What ``policy`` does after ``history`` under an epoch budget: Done once the budget is trained."""
    return DONE if history[-1].epoch >= epochs else policy.decide(list(history))


@dataclasses.dataclass
class SharedPlay:
    """What :func:`play_together` returns: each policy's outcomes, in the order given, and the epochs it cost."""

    outcomes: list[list[Outcome]]
    #: Epochs actually trained (each shared epoch once), reverted ones included.
    epochs_trained: int


@dataclasses.dataclass
class _Branch:
    """A game in progress and the policies that have agreed on every action so far."""

    game: Game
    members: list[int]
    outcomes: list[Outcome]
    history: list[Observation]

    def split(self) -> "_Branch":
        """A copy for policies that part from the others here."""
        return _Branch(self.game.fork(), [], list(self.outcomes), list(self.history))

    @property
    def ended(self) -> bool:
        """The game is over (Done or a limit)."""
        return self.game.ended

    def act(self, action: Action) -> Outcome:
        """Carry out ``action`` and record what it did."""
        outcome = self.game.act(action)
        self.outcomes.append(outcome)
        self.history.append(Observation.from_outcome(outcome, self.game.progress))
        return outcome


def _run(branches: list[_Branch], policies: Sequence, epochs: int) -> tuple[dict[int, list[Outcome]], int]:
    """Play every branch to its end, splitting where its members choose differently; (outcomes by member, epochs)."""
    done: dict[int, list[Outcome]] = {}
    trained = 0
    # Depth first: one branch runs to its end before the next starts, so few games are held at once.
    while branches:
        branch = branches.pop()
        while not branch.ended:
            by_action: dict[Action, list[int]] = {}
            for member in branch.members:
                by_action.setdefault(next_action(policies[member], branch.history, epochs), []).append(member)
            actions = list(by_action)
            # Forks are taken before this branch moves on, so each starts from the state they part at.
            for action in actions[1:]:
                other = branch.split()
                other.members = by_action[action]
                trained += _act_counting(other, action)
                branches.append(other)
            branch.members = by_action[actions[0]]
            trained += _act_counting(branch, actions[0])
        for member in branch.members:
            done[member] = branch.outcomes
    return done, trained


def _act_counting(branch: _Branch, action: Action) -> int:
    """Act and return 1 if an epoch was trained."""
    return int(trains_an_epoch(branch.act(action).kind))


def play_together(
    policies: Sequence, dataset: Dataset, epochs: int, seed: int = 0, device: str = "cpu",
    data: DeviceData | None = None, progress: ProgressCallback | None = None,
) -> SharedPlay:
    """Play every policy for ``epochs`` epochs (engine.references.play_policy's rules), sharing common prefixes.

    Policies whose initial configurations are equal start as one game (network seed ``seed``);
    the result holds, per policy, exactly the outcomes it gets when played alone.
    """
    check_budget(epochs)
    data = data if data is not None else place(dataset, device)
    branches = []
    starts: dict[HyperParams, list[int]] = {}
    for index, policy in enumerate(policies):
        starts.setdefault(policy.initial_config(), []).append(index)
    for config, members in reversed(starts.items()):  # popped last first: played in the order given
        game = Game(dataset, config, seed=seed, device=device, data=data, progress=progress)
        outcome = game.start()
        branches.append(_Branch(game, members, [outcome], [Observation.from_outcome(outcome, game.progress)]))
    done, trained = _run(branches, policies, epochs)
    return SharedPlay([done[i] for i in range(len(policies))], trained + len(starts))


# ----------------------------------------------------------------------------- fork points


@dataclasses.dataclass(frozen=True)
class ForkPoint:
    """Where reference players leave a path someone else played: everything they need to go on from there.

    ``players`` name the policies that continue from here; ``history`` is the path's observations
    up to this point (what they decide from, and the first part of their curves); ``checkpoint``
    is the training state after its last action (engine.checkpoint), or None when the path ended
    here with the players still on it (nothing is left to train).
    """

    players: tuple[str, ...]
    history: tuple[Observation, ...]
    checkpoint: bytes | None

    @property
    def counters(self) -> rules.Progress:
        """The rule counters at the fork (actions, epoch, reverts in a row)."""
        return self.history[-1].progress

    def as_dict(self) -> dict:
        """JSON-ready form without the checkpoint (store that as bytes beside it)."""
        return {"players": list(self.players), "history": [_observation_dict(o) for o in self.history],
                "ended": self.checkpoint is None}

    @classmethod
    def from_dict(cls, data: dict, checkpoint_bytes: bytes | None) -> "ForkPoint":
        """Inverse of as_dict, given the checkpoint stored beside it (None for one that ended)."""
        try:
            players = tuple(str(p) for p in data["players"])
            history = tuple(_observation(o) for o in data["history"])
            ended = bool(data["ended"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"fork point is incomplete ({type(exc).__name__}: {exc})") from None
        if not players or not history or ended != (checkpoint_bytes is None) or checkpoint_bytes == b"":
            raise CheckpointError("fork point needs players, a history, and a checkpoint unless it ended")
        return cls(players, history, checkpoint_bytes)

    def to_bytes(self) -> bytes:
        """One self-contained blob: a length-prefixed JSON header, then the checkpoint."""
        header = json.dumps(self.as_dict(), allow_nan=False).encode()
        return len(header).to_bytes(8, "little") + header + (self.checkpoint or b"")

    @classmethod
    def from_bytes(cls, blob: bytes) -> "ForkPoint":
        """Inverse of to_bytes; CheckpointError if it is not one."""
        stream = io.BytesIO(bytes(blob))
        size = int.from_bytes(stream.read(8), "little")
        try:
            data = json.loads(stream.read(size))
        except (ValueError, UnicodeDecodeError):
            raise CheckpointError("fork point header is not JSON") from None
        if not isinstance(data, dict):
            raise CheckpointError("fork point header is not an object")
        rest = stream.read()
        return cls.from_dict(data, None if data.get("ended") is True and not rest else rest)


def _observation_dict(obs: Observation) -> dict:
    """An Observation as plain JSON values (every float is finite or None already)."""
    data = dataclasses.asdict(obs)
    data["config"] = obs.config.as_dict()
    return data


def _observation(data: dict) -> Observation:
    """Inverse of _observation_dict; JSON's ints back to floats."""
    def number(value):
        return None if value is None else float(value)

    return Observation(
        action=int(data["action"]), epoch=int(data["epoch"]), config=HyperParams.from_dict(data["config"]),
        train_loss=number(data["train_loss"]), train_acc=number(data["train_acc"]),
        val_loss=number(data["val_loss"]), val_acc=number(data["val_acc"]), diverged=bool(data["diverged"]),
        best_val_acc=number(data["best_val_acc"]), consecutive_reverts=int(data["consecutive_reverts"]),
        kind=str(data["kind"]),
    )


class ForkRecorder:
    """Watches a path as it is played and notes a ForkPoint wherever a follower would act otherwise.

    Followers must start as the path did (same initial configuration and network seed) and must
    never Revert (a resumed game cannot go back past its fork point): the reference schedules.
    Call :meth:`step` before each action of the path after the first epoch, and :meth:`finish`
    with the whole history once the path has ended.
    """

    def __init__(self, followers: Iterable, epochs: int) -> None:
        check_budget(epochs)
        self.epochs = epochs
        self._following = list(followers)
        self.forks: list[ForkPoint] = []

    @property
    def following(self) -> list[str]:
        """Names of the followers still on the path."""
        return [policy.name for policy in self._following]

    def step(self, history: Sequence[Observation], action: Action, checkpoint_bytes: Callable[[], bytes]) -> ForkPoint | None:
        """The path takes ``action`` after ``history``; followers choosing otherwise fork here.

        ``checkpoint_bytes`` returns the training state after ``history`` (called only when a fork is due).
        """
        if not self._following:
            return None
        started = history[0].config
        if any(p.initial_config() != started for p in self._following):
            raise ValueError(f"followers must start as the path did ({started})")
        leaving = [p for p in self._following if next_action(p, history, self.epochs) != action]
        if not leaving:
            return None
        self._following = [p for p in self._following if p not in leaving]
        fork = ForkPoint(tuple(p.name for p in leaving), tuple(history), bytes(checkpoint_bytes()))
        self.forks.append(fork)
        return fork

    def finish(self, history: Sequence[Observation]) -> ForkPoint | None:
        """The path ended after ``history``: followers still on it ended the same way."""
        if not self._following:
            return None
        fork = ForkPoint(tuple(p.name for p in self._following), tuple(history), None)
        self._following = []
        self.forks.append(fork)
        return fork


def play_recording(
    policy, followers: Iterable, dataset: Dataset, epochs: int, seed: int = 0, device: str = "cpu",
    data: DeviceData | None = None, progress: ProgressCallback | None = None,
) -> tuple[list[Outcome], list[ForkPoint]]:
    """Play ``policy`` alone (as engine.references.play_policy) and note where each follower would leave its path."""
    check_budget(epochs)
    recorder = ForkRecorder(followers, epochs)
    game = Game(dataset, policy.initial_config(), seed=seed, device=device, data=data, progress=progress)
    outcome = game.start()
    outcomes, history = [outcome], [Observation.from_outcome(outcome, game.progress)]
    while not outcome.ended:
        action = next_action(policy, history, epochs)
        recorder.step(history, action, game.current_checkpoint)
        outcome = game.act(action)
        outcomes.append(outcome)
        history.append(Observation.from_outcome(outcome, game.progress))
    recorder.finish(history)
    return outcomes, recorder.forks


@dataclasses.dataclass
class Resumed:
    """A player gone on from a fork point: the path it shared (observations) and what it did after."""

    history: tuple[Observation, ...]
    outcomes: list[Outcome]

    @property
    def curve(self) -> list[float | None]:
        """Validation accuracy of every trained epoch, the shared ones first (as engine.references.curve_of)."""
        shared = [_value(o.val_acc, o.diverged) for o in self.history if trains_an_epoch(o.kind)]
        return shared + [_value(o.metrics.val_acc if o.metrics else None, o.metrics is None or o.metrics.diverged)
                         for o in self.outcomes if trains_an_epoch(o.kind)]


def _value(val_acc: float | None, diverged: bool) -> float | None:
    """A curve point: None for a diverged epoch or a non-finite accuracy."""
    return None if diverged or val_acc is None or not math.isfinite(val_acc) else float(val_acc)


def resume(
    fork: ForkPoint, policies: Sequence, dataset: Dataset, epochs: int, device: str = "cpu",
    data: DeviceData | None = None, progress: ProgressCallback | None = None,
) -> tuple[list[Resumed], int]:
    """Go on from ``fork`` with each of ``policies`` (sharing what they still have in common); (per policy, epochs trained)."""
    check_budget(epochs)
    if fork.checkpoint is None:
        return [Resumed(fork.history, []) for _ in policies], 0
    data = data if data is not None else place(dataset, device)
    last = fork.history[-1]
    state = checkpoint.from_bytes(fork.checkpoint, data.device)
    game = Game.resume(dataset, state, fork.checkpoint, actions=last.action, best_val_acc=last.best_val_acc,
                       data=data, progress=progress, consecutive_reverts=last.consecutive_reverts)
    branch = _Branch(game, list(range(len(policies))), [], list(fork.history))
    done, trained = _run([branch], policies, epochs)
    return [Resumed(fork.history, done[i]) for i in range(len(policies))], trained
