"""One Continue of the game: apply the knob moves, grow or shrink the network, train an epoch.

This is the job both runners call (the web app's in-process runner and the Celery
worker): it takes a TrainingState and returns the next one with what it measured.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from engine import growth
from engine.growth import ChangeReport
from engine.ladders import apply_changes
from engine.training import DeviceData, EpochMetrics, ProgressCallback, TrainingState, evaluate, train_epoch


@dataclasses.dataclass(frozen=True)
class StructureChange:
    """The combined effect of this action's width/depth moves on validation metrics."""

    steps: tuple[ChangeReport, ...]
    val_loss_before: float
    val_loss_after: float
    val_acc_before: float
    val_acc_after: float

    def as_dict(self) -> dict:
        """JSON-ready dict (non-finite losses become None)."""

        def clean(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {
            "val_loss_before": clean(self.val_loss_before),
            "val_loss_after": clean(self.val_loss_after),
            "val_acc_before": self.val_acc_before,
            "val_acc_after": self.val_acc_after,
            "steps": [step.as_dict() for step in self.steps],
        }


def reshape(state: TrainingState, changes: dict[str, str], data: DeviceData) -> tuple[TrainingState, StructureChange | None]:
    """Apply the knob moves in ``changes``; width/depth moves rebuild the network.

    Raises RuleViolation (before touching anything) when a move is impossible.
    """
    target = apply_changes(state.hparams, changes)
    structural = [k for k in ("width", "depth") if getattr(target, k) != getattr(state.hparams, k)]
    if not structural:
        state.hparams = target
        return state, None

    before = evaluate(state.network, data.val_x, data.val_y)
    measured = before
    reports = []
    current = state
    for knob in structural:
        old, new = getattr(current.hparams, knob), getattr(target, knob)
        if knob == "width" and new > old:
            seed = int(torch.randint(0, 2**62, (1,), generator=current.rng))
            current = growth.widen(current, new, torch.Generator().manual_seed(seed))
        elif knob == "width":
            current = growth.narrow(current, new)
        elif new > old:
            current = growth.deepen(current, new, data.sample_x)
        else:
            current = growth.shallow(current, new, data.sample_x)
        after = evaluate(current.network, data.val_x, data.val_y)
        direction = "up" if new > old else "down"
        reports.append(ChangeReport(knob, direction, old, new, measured[0], after[0], measured[1], after[1]))
        measured = after
    current.hparams = target
    return current, StructureChange(tuple(reports), before[0], measured[0], before[1], measured[1])


def continue_training(
    state: TrainingState,
    changes: dict[str, str],
    data: DeviceData,
    progress: ProgressCallback | None = None,
) -> tuple[TrainingState, EpochMetrics, StructureChange | None]:
    """The game's Continue: apply ``changes`` then train one epoch; returns the new state."""
    state, change = reshape(state, changes, data)
    metrics = train_epoch(state, data, progress)
    return state, metrics, change
