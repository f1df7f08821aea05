"""Up/Down steps for each knob, with the reason when a step is impossible."""

from __future__ import annotations

import dataclasses

from engine.config import KNOBS, MAX_DEPTH, MAX_WIDTH, MIN_DEPTH, MIN_WIDTH, HyperParams
from engine.errors import ActionSyntaxError, RuleViolation
from engine.formatting import knob_value

#: Learning rate moves in half-decade steps (log scale), as tuning guides recommend.
LR_LADDER = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
#: Weight decay starts at 0, then climbs in half-decades.
WEIGHT_DECAY_LADDER = (0.0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
#: Dropout moves in steps of 0.1 up to a cap: more than 0.7 starves a small network.
DROPOUT_LADDER = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: Width doubles or halves (Net2WiderNet doubles every block).
WIDTH_LADDER = tuple(w for w in (8, 16, 32, 64, 128, 256, 512) if MIN_WIDTH <= w <= MAX_WIDTH)
#: Depth doubles (Net2DeeperNet inserts one identity block per block) or halves.
DEPTH_LADDER = tuple(d for d in (1, 2, 4, 8, 16) if MIN_DEPTH <= d <= MAX_DEPTH)

LADDERS = {
    "lr": LR_LADDER,
    "weight_decay": WEIGHT_DECAY_LADDER,
    "dropout": DROPOUT_LADDER,
    "width": WIDTH_LADDER,
    "depth": DEPTH_LADDER,
}

KNOB_LABELS = {
    "lr": "learning rate",
    "weight_decay": "weight decay",
    "dropout": "dropout",
    "width": "width",
    "depth": "depth",
}

DIRECTIONS = ("same", "up", "down")


@dataclasses.dataclass(frozen=True)
class Step:
    """The outcome of moving one knob: the next value, or why it cannot move."""

    knob: str
    direction: str
    value: float | int | None
    reason: str | None = None

    @property
    def possible(self) -> bool:
        """True when the step leads to a value."""
        return self.reason is None


def _close(a: float, b: float) -> bool:
    """Ladder values compare with a relative tolerance (0.01 vs 0.010000001)."""
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1e-12)


def step(knob: str, direction: str, current: float | int) -> Step:
    """Move ``knob`` from ``current`` one rung ``up``/``down`` (or stay for ``same``)."""
    if knob not in LADDERS:
        raise ActionSyntaxError(f"unknown knob {knob!r}; knobs are {', '.join(KNOBS)}")
    if direction not in DIRECTIONS:
        raise ActionSyntaxError(f"direction for {knob} must be up, down or same, got {direction!r}")
    if direction == "same":
        return Step(knob, direction, current)
    ladder = LADDERS[knob]
    label = KNOB_LABELS[knob]
    if direction == "up":
        # A value off the ladder (e.g. a CLI --lr 0.05) moves to the next rung above it.
        above = [v for v in ladder if v > current and not _close(v, current)]
        if not above:
            return Step(knob, direction, None, f"{label} is already at its maximum ({knob_value(knob, current)})")
        return Step(knob, direction, above[0])
    below = [v for v in ladder if v < current and not _close(v, current)]
    if not below:
        return Step(knob, direction, None, f"{label} is already at its minimum ({knob_value(knob, current)})")
    return Step(knob, direction, below[-1])


def apply_changes(hparams: HyperParams, changes: dict[str, str]) -> HyperParams:
    """Return the configuration after moving each knob in ``changes``; RuleViolation if impossible."""
    updates: dict[str, float | int] = {}
    for knob, direction in changes.items():
        moved = step(knob, direction, getattr(hparams, knob))
        if not moved.possible:
            raise RuleViolation(moved.reason)
        updates[knob] = moved.value  # type: ignore[assignment]
    return hparams.replace(**updates)


def all_steps(hparams: HyperParams) -> dict[str, dict[str, Step]]:
    """Every knob's Same/Up/Down outcome, for a page that shows disabled steps with reasons."""
    return {knob: {d: step(knob, d, getattr(hparams, knob)) for d in DIRECTIONS} for knob in KNOBS}
