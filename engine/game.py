"""A whole game held in memory: the scripted player of ``hyperquest train`` and the bots.

The web app keeps the same state in its database; both take their transitions from engine.play
and train with engine.session.continue_training, so a run replays identically in either.
"""

from __future__ import annotations

import copy
import dataclasses
import math

from engine import checkpoint, play, rules
from engine.actions import Action
from engine.config import HyperParams
from engine.datasets import Dataset
from engine.session import StructureChange, continue_training
from engine.errors import RuleViolation
from engine.training import DeviceData, EpochMetrics, ProgressCallback, TrainingState, new_state, place


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one action did, as the player sees it afterwards."""

    action: int
    kind: str  # "initial", "continue", "revert" or "done"
    epoch: int
    config: HyperParams
    metrics: EpochMetrics | None
    change: StructureChange | None
    best_val_acc: float | None
    ended: bool
    end_reason: str | None

    def as_dict(self) -> dict:
        """One JSON line of ``hyperquest train --json``."""
        metrics = self.metrics.as_dict() if self.metrics else {}
        data = {
            "action": self.action,
            "kind": self.kind,
            "epoch": self.epoch,
            "config": self.config.as_dict(),
            "train_loss": metrics.get("train_loss"),
            "train_acc": metrics.get("train_acc"),
            "val_loss": metrics.get("val_loss"),
            "val_acc": metrics.get("val_acc"),
            "diverged": metrics.get("diverged", False),
            "seconds": metrics.get("seconds"),
            "best_val_acc": self.best_val_acc,
            "ended": self.ended,
            "end_reason": self.end_reason,
        }
        if self.change is not None:
            data["change"] = self.change.as_dict()
        return data


@dataclasses.dataclass
class _Saved:
    """A checkpoint on the current path with the metrics of the epoch that produced it."""

    blob: bytes
    metrics: EpochMetrics | None
    config: HyperParams


class Game:
    """One run on one dataset, played action by action under the game's rules (engine.play)."""

    def __init__(
        self, dataset: Dataset, hparams: HyperParams, seed: int = 0, device: str = "cpu",
        data: DeviceData | None = None, progress: ProgressCallback | None = None,
    ) -> None:
        self.dataset = dataset
        # ``data``: the dataset already placed on ``device``, so several runs share one copy.
        self.data: DeviceData = data if data is not None else place(dataset, device)
        # Per-batch callback of engine.training.train_epoch (``self.progress`` is the rule counters).
        self._on_batch = progress
        self.state = new_state(dataset, hparams, seed, device)
        self.counters = play.RunCounters()
        self.best_checkpoint: bytes | None = None
        # Checkpoints Revert can still reach: the current one and up to 5 before it.
        self._path: list[_Saved] = [_Saved(checkpoint.to_bytes(self.state), None, hparams)]

    @classmethod
    def resume(cls, dataset: Dataset, state: TrainingState, blob: bytes, actions: int, best_val_acc: float | None,
               data: DeviceData | None = None, progress: ProgressCallback | None = None,
               consecutive_reverts: int = 0) -> "Game":
        """A game going on from a saved ``state`` (``blob``, its checkpoint), e.g. a debrief branch.

        ``actions`` were used before it, ``best_val_acc`` reached and ``consecutive_reverts`` made
        just before it; Revert cannot go back past it.
        """
        game = cls.__new__(cls)
        game.dataset = dataset
        game.data = data if data is not None else place(dataset, state.device)
        game._on_batch = progress
        game.state = state
        game.counters = play.end_by_limits(
            play.RunCounters(actions, state.epoch, consecutive_reverts, best_val_acc))
        game.best_checkpoint = None  # the best so far belongs to the game this one goes on from
        game._path = [_Saved(blob, None, state.hparams)]
        return game

    def fork(self) -> "Game":
        """An independent copy that goes on exactly as this game would: same weights, momentum, RNG, counters and path.

        The state is rebuilt from the current checkpoint (what Revert relies on to be exact), so
        training either copy never changes the other; both share the placed dataset.
        """
        twin = copy.copy(self)
        twin.state = checkpoint.from_bytes(self._path[-1].blob, self.data.device)
        twin._path = list(self._path)  # the saved checkpoints are immutable bytes: shared, not copied
        return twin

    # The counters, as the callers (bots, the CLI, the debrief) read them.
    actions = property(lambda self: self.counters.actions)
    consecutive_reverts = property(lambda self: self.counters.consecutive_reverts)
    best_val_acc = property(lambda self: self.counters.best_val_acc)
    ended = property(lambda self: self.counters.ended)
    end_reason = property(lambda self: self.counters.end_reason)

    def current_checkpoint(self) -> bytes:
        """The checkpoint of the state the game is in now."""
        return self._path[-1].blob

    @property
    def progress(self) -> rules.Progress:
        """The counters the rules look at."""
        return self.counters.progress

    def start(self) -> Outcome:
        """Submit the initial configuration: action 1 trains epoch 1."""
        counters = play.start(self.counters)
        return self._train({}, counters, kind="initial")

    def act(self, action: Action) -> Outcome:
        """Carry out one action after checking the rules."""
        counters = play.take(self.counters, action)
        if action.kind == "continue":
            return self._train(action.change_map, counters, kind="continue")
        if action.kind == "revert":
            return self._revert(counters)
        self.counters = play.finish(counters)
        return self._outcome("done", self._path[-1].metrics, None)

    def _train(self, changes: dict[str, str], counters: play.RunCounters, kind: str) -> Outcome:
        self.state, metrics, change = continue_training(self.state, changes, self.data, self._on_batch)
        blob = checkpoint.to_bytes(self.state)
        if play.is_new_best(counters, metrics.val_acc, metrics.diverged):
            self.best_checkpoint = blob
        self.counters = play.after_epoch(counters, self.state.epoch, metrics.val_acc, metrics.diverged)
        self._path.append(_Saved(blob, metrics, self.state.hparams))
        del self._path[: -play.REVERT_WINDOW]
        return self._outcome(kind, metrics, change)

    def _revert(self, counters: play.RunCounters) -> Outcome:
        if len(self._path) < 2:  # only a resumed game: its earlier checkpoints belong to another game
            raise RuleViolation("cannot revert past the checkpoint this game started from")
        self._path.pop()
        saved = self._path[-1]
        self.state = checkpoint.from_bytes(saved.blob, self.data.device)
        self.counters = play.after_revert(counters, self.state.epoch)
        return self._outcome("revert", saved.metrics, None)

    def _outcome(self, kind: str, metrics: EpochMetrics | None, change: StructureChange | None) -> Outcome:
        c = self.counters
        if c.ended and metrics is None:
            metrics = self._path[-1].metrics
        return Outcome(c.actions, kind, self.state.epoch, self.state.hparams, metrics, change, c.best_val_acc, c.ended,
                       c.end_reason)


def score(outcomes: list[Outcome]) -> float | None:
    """A run's score: its best validation accuracy (None if no epoch was trained)."""
    values = [o.best_val_acc for o in outcomes if o.best_val_acc is not None and math.isfinite(o.best_val_acc)]
    return max(values) if values else None
