"""Comparing runs by the validation-accuracy curves they spent: score, regret, area (the normalised score is engine.scale).

A curve is the validation accuracy of every epoch a player trained, in training order (reverted
epochs included, diverged ones as None); see engine.references.curve_of. Pure Python: the web app
can import this without torch.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

Curve = Sequence[float | None]


def curve_score(curve: Curve) -> float | None:
    """A curve's score as the game counts it: its best non-None value (None if there is none)."""
    values = [v for v in curve if v is not None]
    return max(values) if values else None


def best_so_far(curve: Curve) -> list[float]:
    """The running best of ``curve``; a None (diverged) epoch keeps the previous best, leading ones count as 0.0."""
    best = 0.0
    running = []
    for value in curve:
        if value is not None and value > best:
            best = value
        running.append(best)
    return running


def area_per_epoch(curve: Curve) -> float | None:
    """Mean of best_so_far over the epochs spent (None for an empty curve).

    Reaching a good accuracy early raises every later term, and each epoch spent without
    improving adds a term no higher than before, so a long tail of wasted epochs is not free.
    """
    running = best_so_far(curve)
    return sum(running) / len(running) if running else None


def regret(score: float | None, oracle: float | None) -> float | None:
    """How far ``score`` falls short of the oracle: oracle − score (None if either is None)."""
    if score is None or oracle is None:
        return None
    return oracle - score


@dataclasses.dataclass(frozen=True)
class RegretRow:
    """One player's line of a regret table."""

    name: str
    score: float | None
    regret: float | None
    area: float | None


def regret_table(curves: dict[str, Curve], oracle: float | None) -> list[RegretRow]:
    """One row per named curve, in the dict's order: its score, regret against ``oracle`` and area."""
    rows = []
    for name, curve in curves.items():
        score = curve_score(curve)
        rows.append(RegretRow(name, score, regret(score, oracle), area_per_epoch(curve)))
    return rows
