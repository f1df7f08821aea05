"""Constructed run histories for the alert and class-analysis tests: clean runs and runs with one known pathology.

Validation accuracy gets noise of 0.01 per epoch (about what ~1,500 validation examples give), so a
clean run wobbles the way real runs do and the alerts' thresholds are tested against that noise.
"""

from __future__ import annotations

import math
import random

from engine.actions import CONTINUE, DONE, INITIAL, REVERT
from engine.config import HyperParams
from engine.debrief import EpochPoint, Step

CLEAN = "clean"
#: The pathologies a constructed run can have (engine.alerts kinds).
PATHOLOGIES = ("diverged", "overfitting", "idle", "reverts", "lr_stuck")


def point(number: int, train_acc: float, val_acc: float, train_loss: float | None, val_loss: float | None = None,
          lr: float = 0.01, diverged: bool = False, dropout: float = 0.0) -> EpochPoint:
    """One epoch (val_loss defaults to the training loss plus a little)."""
    if val_loss is None and train_loss is not None:
        val_loss = train_loss + 0.1
    return EpochPoint(number, train_loss, train_acc, val_loss, val_acc, diverged,
                      HyperParams(width=64, depth=2, lr=lr, dropout=dropout))


class Builder:
    """Appends steps to a history the way a player's actions would produce them."""

    def __init__(self, rng: random.Random, lr: float = 0.01) -> None:
        self.rng = rng
        self.lr = lr
        self.steps: list[Step] = []
        self.path: list[EpochPoint] = []
        self.t = 0.0  # "learning progress": what the clean curves are a function of

    def _noise(self, sd: float) -> float:
        return self.rng.gauss(0.0, sd)

    def train(self, *, progress: float = 1.0, val_shift: float = 0.0, train_shift: float = 0.0,
              loss: float | None = None, diverged: bool = False) -> EpochPoint:
        """One more epoch on the path: a clean learning curve moved by ``progress``, with optional overrides."""
        self.t += progress
        number = len(self.path) + 1
        base = 0.85 - 0.5 * math.exp(-self.t / 4)
        val = min(0.99, base + val_shift + self._noise(0.01))
        train = min(0.999, base + 0.003 * self.t + train_shift + self._noise(0.004))
        train_loss = loss if loss is not None else 0.2 + 1.2 * math.exp(-self.t / 5) + self._noise(0.003)
        if diverged:
            p = point(number, 0.1, 0.1, None, None, self.lr, diverged=True)
        else:
            p = point(number, train, val, train_loss, train_loss + 0.1, self.lr)
        self.steps.append(Step(INITIAL if not self.steps else CONTINUE, p))
        self.path.append(p)
        return p

    def revert(self) -> None:
        """Undo the last epoch."""
        self.steps.append(Step(REVERT, None))
        self.path.pop()
        self.t -= 1

    def lower_lr(self) -> None:
        """The next epoch trains at a tenth of the rate (a clean player's reaction to a plateau)."""
        self.lr = max(1e-4, self.lr / 3)

    def done(self) -> list[Step]:
        """Press Done; the steps."""
        self.steps.append(Step(DONE, None))
        return self.steps


def clean_run(rng: random.Random, epochs: int = 24) -> list[Step]:
    """A sensible player: continues, lowers the learning rate every 6 epochs, stops at the end."""
    b = Builder(rng)
    for i in range(epochs):
        if i and i % 6 == 0:
            b.lower_lr()
            b.t += 1.5  # a lower rate is a fresh start of progress
        b.train()
    return b.done()


def pathological_run(kind: str, rng: random.Random) -> tuple[list[Step], float | None]:
    """A run with exactly one pathology ``kind``: (steps, seconds it has waited for its player)."""
    b = Builder(rng)
    for i in range(8):
        if i == 6:
            b.lower_lr()
        b.train()
    if kind == "diverged":
        b.lr = 1.0
        b.train(diverged=True)
        b.lr = 0.003
        b.train()
        return b.done(), None
    if kind == "overfitting":
        for k in range(1, 7):
            # Memorising: training accuracy keeps climbing while validation accuracy slides.
            b.train(progress=1.0, val_shift=-0.03 * k, train_shift=0.02 * k)
        return b.done(), None
    if kind == "reverts":
        b.train()
        for _ in range(3):
            b.revert()
        return b.steps, 30.0
    if kind == "lr_stuck":
        level = b.path[-1].train_loss
        for k in range(7):
            b.train(progress=0.0, loss=level - 0.001 * k + b._noise(0.002))
        return b.steps, 20.0
    if kind == "idle":
        return b.steps, 25 * 60.0
    raise ValueError(kind)


def seeded_set(seed: int = 7, clean: int = 40, per_pathology: int = 8) -> list[dict]:
    """Runs with known labels: {"steps", "waiting", "labels"} (labels empty for a clean run)."""
    rng = random.Random(seed)
    runs = [{"steps": clean_run(rng), "waiting": None, "labels": set()} for _ in range(clean)]
    # Clean runs that are still in play and waiting briefly for their player (no idle alert due).
    for _ in range(clean // 4):
        steps = clean_run(rng)[:-1]
        runs.append({"steps": steps, "waiting": rng.uniform(5, 90), "labels": set()})
    for kind in PATHOLOGIES:
        for _ in range(per_pathology):
            steps, waiting = pathological_run(kind, rng)
            runs.append({"steps": steps, "waiting": waiting, "labels": {kind}})
    return runs
