"""The normalised score: one scale for every page, the grade rule and the export.

    normalised = (score − chance) ÷ (top − chance)

``chance`` is 1 / classes, what guessing scores; ``top`` is the best score of every reference
player on the dataset: the default schedule, the linear classifier, the automatic player and,
once they are computed, the random player and the best of the fixed schedules. So 0 is guessing,
1 is the best reference player (whose own row reads exactly 1.00), above 1 beats them all.

Why not the earlier scales. ``(score − default) ÷ (bot − default)`` divides by the gap between two
references that are often a few validation examples apart: the gap was floored at 0.02, so the
bot's own row read 0.52 and a player 2 examples below the default −0.26. ``(score − random) ÷
(oracle − random)`` has the same weakness (the random player can come close to the oracle) and its
"oracle" was beaten by the automatic player. ``top − chance`` is the whole range the references
learned above guessing: far from 0 on every learnable dataset, so a single validation example
moves a score by a small, similar amount everywhere (bench/normalisation_spread.py measures it).

Differences smaller than one validation example (1 / val_examples of accuracy) are ties: the
split cannot tell them apart, so pages show "level with", and equal ranks, not a loss.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable

#: Below this (top − chance) the dataset has no usable scale: no reference learned anything.
MIN_DIVISOR = 0.02
#: Reference players by key, in the order a tie for the top is named (the automatic player first).
REFERENCE_NAMES = {
    "bot": "automatic player",
    "oracle": "best fixed schedule",
    "default": "default schedule",
    "linear": "linear classifier",
    "random": "random player",
}
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Scale:
    """One dataset's scale: chance at 0, the best reference player at 1."""

    chance: float
    top: float
    top_key: str
    val_examples: int
    #: The random player and the fixed schedules are in ``top`` (False: only the three baselines so far).
    complete: bool

    @property
    def divisor(self) -> float:
        """top − chance: one unit of the normalised score, in accuracy."""
        return self.top - self.chance

    @property
    def usable(self) -> bool:
        """The references learned enough above guessing for the scale to mean anything."""
        return self.divisor >= MIN_DIVISOR

    @property
    def top_name(self) -> str:
        """Which reference player the top is, in words."""
        return REFERENCE_NAMES[self.top_key]

    @property
    def one_example(self) -> float:
        """One validation example, in accuracy: smaller differences are ties."""
        return 1.0 / self.val_examples if self.val_examples > 0 else 0.0

    @property
    def one_example_normalised(self) -> float:
        """One validation example on the normalised scale."""
        return self.one_example / self.divisor if self.usable else math.inf

    def normalised(self, score: float | None) -> float | None:
        """(score − chance) ÷ (top − chance); None without a score or a usable scale."""
        if score is None or not math.isfinite(score) or not self.usable:
            return None
        return (score - self.chance) / self.divisor

    def as_dict(self) -> dict:
        """JSON-ready: the scale's ends, what the top is, and one validation example."""
        return {"chance": self.chance, "top": self.top, "top_key": self.top_key, "top_name": self.top_name,
                "complete": self.complete, "usable": self.usable, "one_example": self.one_example}

    def tied(self, a: float | None, b: float | None) -> bool:
        """The two accuracies differ by less than one validation example."""
        return a is not None and b is not None and abs(a - b) < self.one_example - _EPS

    def compare(self, score: float, other: float) -> int:
        """1 above ``other``, -1 below, 0 level (within one validation example)."""
        if self.tied(score, other):
            return 0
        return 1 if score > other else -1


def scale_for(num_classes: int, val_examples: int, references: dict[str, float | None],
              complete: bool = False) -> Scale | None:
    """The scale of a dataset from its reference scores by key (REFERENCE_NAMES); None while none is known."""
    known = [(key, value) for key, value in references.items()
             if key in REFERENCE_NAMES and value is not None and math.isfinite(value)]
    if not known or num_classes < 1:
        return None
    order = list(REFERENCE_NAMES)
    top_key, top = max(known, key=lambda kv: (kv[1], -order.index(kv[0])))
    return Scale(1.0 / num_classes, top, top_key, val_examples, complete)


def competition_ranks(scores: Iterable[float], margin: float) -> list[int]:
    """Ranks of ``scores`` (in their order), 1 = best: 1 + how many are ahead by at least ``margin``.

    Scores within ``margin`` of each other share a rank (like sports' "1224" ranking, with a tolerance).
    """
    values = list(scores)
    return [1 + sum(other > value and other - value >= margin - _EPS for other in values) for value in values]
