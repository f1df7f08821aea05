"""Counterfactual branches: an automatic player takes over a run from one of its checkpoints.

The branch starts from the player's exact checkpoint (weights, momentum, RNG state, epoch) with
the budget the player had left at that moment, and is played through engine.game like any run,
so it obeys every rule. Its first recorded state is that checkpoint evaluated again: the same
validation accuracy the player saw at that epoch.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator

from engine import checkpoint, rules
from engine.actions import Action, trains_an_epoch
from engine.bots import Observation
from engine.numbers import finite
from engine.datasets import Dataset
from engine.game import Game, Outcome
from engine.training import DeviceData, ProgressCallback, evaluate, place


@dataclasses.dataclass(frozen=True)
class BranchStart:
    """The moment of the player's run a branch starts from."""

    from_epoch: int
    checkpoint: bytes
    #: Actions the player had used when that epoch was trained (the initial configuration counts).
    actions_used: int
    #: The player's best validation accuracy at that moment (reverted epochs trained before it count).
    best_val_acc: float | None
    #: The player's metrics of that epoch (train_loss, train_acc, val_loss, val_acc), as the bot's first observation.
    metrics: dict = dataclasses.field(default_factory=dict)

    @property
    def epochs_left(self) -> int:
        """Epochs the branch may still train under the game's limits."""
        return max(0, min(rules.MAX_EPOCHS - self.from_epoch, rules.MAX_ACTIONS - self.actions_used))


@dataclasses.dataclass
class Branch:
    """A played branch: the start state as re-evaluated, then every move and its outcome."""

    start: BranchStart
    start_val_loss: float
    start_val_acc: float
    moves: list[Action]
    outcomes: list[Outcome]
    shown: list[dict]

    @property
    def epochs_trained(self) -> int:
        """Epochs the branch trained (reverted ones included: they cost compute too)."""
        return sum(trains_an_epoch(o.kind) for o in self.outcomes)

    @property
    def branch_best(self) -> float | None:
        """Best validation accuracy of the branch's own epochs."""
        values = [o.metrics.val_acc for o in self.outcomes
                  if trains_an_epoch(o.kind) and o.metrics is not None and not o.metrics.diverged]
        return max(values, default=None)

    @property
    def best_val_acc(self) -> float | None:
        """The score the run would have reached had the automatic player taken over at the branch's epoch."""
        values = [v for v in (self.start.best_val_acc, self.branch_best) if v is not None]
        return max(values, default=None)

    def records(self) -> Iterator[tuple[Action, Outcome, dict, bool]]:
        """(move, outcome, what the player saw before it, whether a later Revert undid its epoch)."""
        reverted = _reverted_flags(self.outcomes)
        yield from zip(self.moves, self.outcomes, self.shown, reverted)

    def curve(self) -> list[dict]:
        """The branch's path from its start: one point per epoch, the start state first."""
        points = [{"epoch": self.start.from_epoch, "val_acc": self.start_val_acc,
                   "val_loss": finite(self.start_val_loss), "kind": "start"}]
        for _, outcome, _, reverted in self.records():
            if trains_an_epoch(outcome.kind) and not reverted and outcome.metrics is not None:
                m = outcome.metrics
                points.append({"epoch": outcome.epoch, "val_acc": m.val_acc, "val_loss": finite(m.val_loss),
                               "train_acc": m.train_acc, "kind": "epoch"})
        return points

    def as_dict(self) -> dict:
        """JSON of ``hyperquest train --branch-from``."""
        last = self.outcomes[-1] if self.outcomes else None
        return {"from_epoch": self.start.from_epoch, "curve": self.curve(), "best_val_acc": self.best_val_acc,
                "branch_best_val_acc": self.branch_best, "epochs_trained": self.epochs_trained,
                "end_reason": last.end_reason if last else None,
                "actions": [str(m) for m in self.moves]}


def _reverted_flags(outcomes: list[Outcome]) -> list[bool]:
    """For each outcome: True when it trained an epoch that a later Revert took off the path."""
    flags = [False] * len(outcomes)
    stack: list[int] = []
    for i, outcome in enumerate(outcomes):
        if trains_an_epoch(outcome.kind):
            stack.append(i)
        elif outcome.kind == "revert" and stack:
            flags[stack.pop()] = True
    return flags


def shown_of(obs: Observation) -> dict:
    """What the automatic player saw when deciding, in the shape the web app stores for players."""
    return {"action": obs.action, "epoch": obs.epoch, "config": obs.config.as_dict(), "best_val_acc": obs.best_val_acc,
            "train_loss": obs.train_loss, "train_acc": obs.train_acc, "val_loss": obs.val_loss, "val_acc": obs.val_acc}


def play_branch(start: BranchStart, dataset: Dataset, policy, device: str = "cpu", data: DeviceData | None = None,
                progress: ProgressCallback | None = None,
                on_outcome: Callable[[Outcome], None] | None = None) -> Branch:
    """Let ``policy`` play on from ``start`` until the game's limits or its Done."""
    data = data or place(dataset, device)
    state = checkpoint.from_bytes(start.checkpoint, data.device)
    val_loss, val_acc = evaluate(state.network, data.val_x, data.val_y)
    game = Game.resume(dataset, state, start.checkpoint, actions=start.actions_used, best_val_acc=start.best_val_acc,
                       data=data, progress=progress)
    m = start.metrics
    # The policy takes over as if this were its own first epoch: it judges the run from here on.
    history = [Observation(action=start.actions_used, epoch=state.epoch, config=state.hparams,
                           train_loss=finite(m.get("train_loss")), train_acc=finite(m.get("train_acc")),
                           val_loss=finite(val_loss), val_acc=val_acc, diverged=False,
                           best_val_acc=start.best_val_acc, consecutive_reverts=0, kind="initial")]
    moves, outcomes, shown = [], [], []
    while not game.ended:
        move = policy.decide(list(history))
        shown.append(shown_of(history[-1]))
        outcome = game.act(move)
        moves.append(move)
        outcomes.append(outcome)
        history.append(Observation.from_outcome(outcome, game.progress))
        if on_outcome:
            on_outcome(outcome)
    return Branch(start, val_loss, val_acc, moves, outcomes, shown)
