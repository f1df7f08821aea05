"""A whole game held in memory: the scripted player of ``hyperquest train`` and the bots.

The web app keeps the same state in its database; both enforce engine.rules and
call engine.session.continue_training, so a run replays identically in either.
"""

from __future__ import annotations

import dataclasses
import math

from engine import checkpoint, rules
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
    """One run on one dataset, played action by action under the game's rules."""

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
        self.actions = 0
        self.consecutive_reverts = 0
        self.ended = False
        self.end_reason: str | None = None
        self.best_val_acc: float | None = None
        self.best_checkpoint: bytes | None = None
        # Checkpoints Revert can still reach: the current one and up to 5 before it.
        self._path: list[_Saved] = [_Saved(checkpoint.to_bytes(self.state), None, hparams)]

    @classmethod
    def resume(cls, dataset: Dataset, state: TrainingState, blob: bytes, actions: int, best_val_acc: float | None,
               data: DeviceData | None = None, progress: ProgressCallback | None = None) -> "Game":
        """A game going on from a saved ``state`` (``blob``, its checkpoint), e.g. a debrief branch.

        ``actions`` were used before it and ``best_val_acc`` reached; Revert cannot go back past it.
        """
        game = cls.__new__(cls)
        game.dataset = dataset
        game.data = data if data is not None else place(dataset, state.device)
        game._on_batch = progress
        game.state = state
        game.actions = actions
        game.consecutive_reverts = 0
        game.ended = False
        game.end_reason = None
        game.best_val_acc = best_val_acc
        game.best_checkpoint = None  # the best so far belongs to the game this one goes on from
        game._path = [_Saved(blob, None, state.hparams)]
        reason = rules.end_reason(game.progress)
        if reason:
            game.ended, game.end_reason = True, reason
        return game

    def current_checkpoint(self) -> bytes:
        """The checkpoint of the state the game is in now."""
        return self._path[-1].blob

    @property
    def progress(self) -> rules.Progress:
        """The counters the rules look at."""
        return rules.Progress(self.actions, self.state.epoch, self.consecutive_reverts, self.ended)

    def start(self) -> Outcome:
        """Submit the initial configuration: action 1 trains epoch 1."""
        if self.actions:
            raise RuntimeError("the game has already started")
        return self._continue({}, kind="initial")

    def act(self, action: Action) -> Outcome:
        """Carry out one action after checking the rules."""
        rules.check(self.progress, action)
        if action.kind == "continue":
            return self._continue(action.change_map, kind="continue")
        if action.kind == "revert":
            return self._revert()
        self.actions += 1
        return self._finish("done", "finished by the player")

    def _continue(self, changes: dict[str, str], kind: str) -> Outcome:
        self.state, metrics, change = continue_training(self.state, changes, self.data, self._on_batch)
        self.actions += 1
        self.consecutive_reverts = 0
        blob = checkpoint.to_bytes(self.state)
        if not metrics.diverged and (self.best_val_acc is None or metrics.val_acc > self.best_val_acc):
            self.best_val_acc = metrics.val_acc
            self.best_checkpoint = blob
        self._path.append(_Saved(blob, metrics, self.state.hparams))
        del self._path[: -(rules.MAX_CONSECUTIVE_REVERTS + 1)]
        return self._outcome(kind, metrics, change)

    def _revert(self) -> Outcome:
        if len(self._path) < 2:  # only a resumed game: its earlier checkpoints belong to another game
            raise RuleViolation("cannot revert past the checkpoint this game started from")
        self._path.pop()
        saved = self._path[-1]
        self.state = checkpoint.from_bytes(saved.blob, self.data.device)
        self.actions += 1
        self.consecutive_reverts += 1
        return self._outcome("revert", saved.metrics, None)

    def _outcome(self, kind: str, metrics: EpochMetrics | None, change: StructureChange | None) -> Outcome:
        reason = rules.end_reason(self.progress)
        if reason:
            return self._finish(kind, reason, metrics, change)
        return Outcome(self.actions, kind, self.state.epoch, self.state.hparams, metrics, change, self.best_val_acc, False, None)

    def _finish(self, kind: str, reason: str, metrics: EpochMetrics | None = None, change: StructureChange | None = None) -> Outcome:
        self.ended = True
        self.end_reason = reason
        if metrics is None:
            metrics = self._path[-1].metrics
        return Outcome(self.actions, kind, self.state.epoch, self.state.hparams, metrics, change, self.best_val_acc, True, reason)


def score(outcomes: list[Outcome]) -> float | None:
    """A run's score: its best validation accuracy (None if no epoch was trained)."""
    values = [o.best_val_acc for o in outcomes if o.best_val_acc is not None and math.isfinite(o.best_val_acc)]
    return max(values) if values else None
