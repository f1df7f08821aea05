"""Checking that datasets are worth playing, at the budget they are played with.

For each seed of a family the default schedule, the other reference schedules
(engine.references.SCHEDULES) and the automatic player (engine.bots.RuleBasedBot) play the
game for the same epoch budget, sharing the epochs they have in common (engine.lockstep); a
run's score is its best validation accuracy, as in the game. A family is worth playing when
the default is neither hopeless nor trivial and a better schedule, or the automatic player,
beats it by a wide margin on most seeds.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable, Iterable

from engine.actions import trains_an_epoch
from engine.bots import RuleBasedBot
from engine.config import HyperParams
from engine.datasets import make_dataset
from engine.game import score
from engine.lockstep import play_together
from engine.references import SCHEDULES, SchedulePlayer
from engine.training import DeviceData, ProgressCallback, new_state, place, train_epoch

#: The automatic player's name among the references.
BOT = "bot"
#: The references the default is compared with: every other schedule of the grid and the automatic player.
REFERENCES = tuple(s.name for s in SCHEDULES if s.name != "default") + (BOT,)

#: What "worth playing" means, per family, on seeds the generators were not tuned on:
#: the default between chance + 0.1 and 0.8 on at least 90% of seeds ...
DEFAULT_MARGIN_OVER_CHANCE = 0.1
DEFAULT_CEILING = 0.8
IN_BAND_SHARE = 0.9
#: ... the best reference beating it by at least 0.15 on the median seed (gaps of 0.08 and 0.15 are counted) ...
GAP_TARGET = 0.15
GAP_LEVELS = (0.08, 0.15)
#: ... and the automatic player beating it on at least 80% of seeds.
BOT_SHARE = 0.8


@dataclasses.dataclass(frozen=True)
class SeedResult:
    """One seed: chance, the default's score and each reference's, and what computing them cost."""

    family: str
    seed: int
    classes: int
    chance: float
    default: float
    references: dict[str, float]
    #: Epochs trained with shared prefixes, and what playing every run on its own would have trained.
    epochs_trained: int
    epochs_separate: int
    seconds: float

    @property
    def best_name(self) -> str:
        """The reference with the highest score (the first in REFERENCES on a tie)."""
        return max(REFERENCES, key=lambda name: (self.references[name], -REFERENCES.index(name)))

    @property
    def best(self) -> float:
        """The best reference's score."""
        return self.references[self.best_name]

    @property
    def gap(self) -> float:
        """How much the best reference beats the default by (negative when none does)."""
        return self.best - self.default

    @property
    def default_in_band(self) -> bool:
        """The default is neither hopeless nor trivial on this seed."""
        return self.chance + DEFAULT_MARGIN_OVER_CHANCE <= self.default <= DEFAULT_CEILING

    @property
    def bot_beats_default(self) -> bool:
        """The automatic player scores higher than the default."""
        return self.references[BOT] > self.default

    def as_dict(self) -> dict:
        """JSON-ready form, with the derived figures."""
        return {**dataclasses.asdict(self), "best": self.best_name, "gap": self.gap,
                "default_in_band": self.default_in_band, "bot_beats_default": self.bot_beats_default}


def best_val_accuracy(
    dataset, hparams: HyperParams, epochs: int, seed: int = 0, device: str = "cpu", progress: ProgressCallback | None = None,
    data: DeviceData | None = None,
) -> float:
    """Train ``epochs`` epochs with fixed hyperparameters; return the best validation accuracy.

    ``data`` is the dataset already placed on ``device`` (placed here when not given).
    """
    data = data or place(dataset, device)
    state = new_state(dataset, hparams, seed, device)
    best = 0.0
    for _ in range(epochs):
        metrics = train_epoch(state, data, progress)
        if not metrics.diverged:
            best = max(best, metrics.val_acc)
    return best


def chance_of(dataset) -> float:
    """Validation accuracy of always answering the most frequent validation class."""
    counts = dataset.val_y.bincount(minlength=dataset.num_classes)
    return float(counts.max()) / float(counts.sum())


def calibrate_seed(family: str, seed: int, size: str, epochs: int, device: str = "cpu") -> SeedResult:
    """Play the default schedule, the other schedules and the automatic player on one dataset."""
    started = time.perf_counter()
    dataset = make_dataset(family, seed, size)
    policies = [SchedulePlayer(s, epochs) for s in SCHEDULES] + [RuleBasedBot()]
    names = [s.name for s in SCHEDULES] + [BOT]
    shared = play_together(policies, dataset, epochs, device=device)
    scores = {name: score(outcomes) or 0.0 for name, outcomes in zip(names, shared.outcomes)}
    separate = sum(trains_an_epoch(o.kind) for outcomes in shared.outcomes for o in outcomes)
    default = scores.pop("default")
    return SeedResult(family, seed, dataset.num_classes, chance_of(dataset), default, scores,
                      shared.epochs_trained, separate, time.perf_counter() - started)


def calibrate(
    families: Iterable[str],
    seeds: Iterable[int],
    size: str,
    epochs: int,
    device: str = "cpu",
    on_result: Callable[[SeedResult], None] | None = None,
) -> list[SeedResult]:
    """Calibrate every (family, seed) pair, reporting each result as it arrives."""
    results = []
    seeds = list(seeds)
    for family in families:
        for seed in seeds:
            result = calibrate_seed(family, seed, size, epochs, device)
            results.append(result)
            if on_result:
                on_result(result)
    return results


def _share(flags: Iterable[bool]) -> float:
    """The fraction of true values."""
    flags = list(flags)
    return sum(flags) / len(flags)


def summarise(results: list[SeedResult]) -> dict[str, dict]:
    """Per family: the default's band, the gap to the best reference, how often the bot wins, and the targets met."""
    summary: dict[str, dict] = {}
    for family in dict.fromkeys(r.family for r in results):
        rows = [r for r in results if r.family == family]
        gaps = [r.gap for r in rows]
        row = {
            "seeds": len(rows),
            "chance": statistics.mean(r.chance for r in rows),
            "default": statistics.mean(r.default for r in rows),
            "default_min": min(r.default for r in rows),
            "default_max": max(r.default for r in rows),
            "bot": statistics.mean(r.references[BOT] for r in rows),
            "best": statistics.mean(r.best for r in rows),
            "default_in_band": _share(r.default_in_band for r in rows),
            "gap_median": statistics.median(gaps),
            # A gap of exactly a level counts (accuracies are fractions, their differences rounded).
            **{f"gap_{level:g}": _share(g >= level - 1e-9 for g in gaps) for level in GAP_LEVELS},
            "bot_beats_default": _share(r.bot_beats_default for r in rows),
            "best_counts": {name: sum(r.best_name == name for r in rows) for name in REFERENCES},
            "epochs_trained": sum(r.epochs_trained for r in rows),
            "epochs_separate": sum(r.epochs_separate for r in rows),
            "seconds": sum(r.seconds for r in rows),
        }
        row["meets_targets"] = (row["default_in_band"] >= IN_BAND_SHARE and row["gap_median"] >= GAP_TARGET - 1e-9
                                and row["bot_beats_default"] >= BOT_SHARE)
        summary[family] = row
    return summary
