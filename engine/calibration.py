"""Checking that datasets are worth playing: the default schedule against a small grid.

For each seed of a family, the default configuration and a few alternatives each
train for the same epoch budget with no changes; a run's score is its best
validation accuracy, as in the game.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Callable, Iterable

from engine.config import HyperParams, default_hparams
from engine.datasets import make_dataset
from engine.training import DeviceData, ProgressCallback, new_state, place, train_epoch

#: Alternatives to the default (width 64, depth 4, lr 0.01, no dropout), chosen to stay
#: cheap on a CPU: each changes one knob along the game's initial choices or ladders.
GRID_CHANGES: tuple[dict, ...] = (
    {"lr": 0.1},
    {"lr": 0.001},
    {"width": 32, "depth": 2},
    {"depth": 8},
)

#: What "worth playing" means (issue targets): default between chance+0.1 and 0.8, grid gains 0.08.
DEFAULT_MARGIN_OVER_CHANCE = 0.1
DEFAULT_CEILING = 0.8
GRID_GAIN = 0.08


@dataclasses.dataclass(frozen=True)
class SeedResult:
    """One seed: chance, the default's score and every grid configuration's score."""

    family: str
    seed: int
    classes: int
    chance: float
    default: float
    grid: dict[str, float]

    @property
    def best(self) -> float:
        """Best score among the grid (default included)."""
        return max([self.default, *self.grid.values()])

    @property
    def worst(self) -> float:
        """Worst score among the grid (default included)."""
        return min([self.default, *self.grid.values()])

    @property
    def default_in_band(self) -> bool:
        """The default is neither hopeless nor trivial on this seed."""
        return self.chance + DEFAULT_MARGIN_OVER_CHANCE <= self.default <= DEFAULT_CEILING

    @property
    def grid_beats_default(self) -> bool:
        """Some grid configuration beats the default by the target margin."""
        return self.best >= self.default + GRID_GAIN


def config_label(changes: dict) -> str:
    """Short name of a grid point, e.g. ``lr=0.1,depth=8``."""
    return ",".join(f"{k}={v:g}" for k, v in changes.items())


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


def calibrate_seed(family: str, seed: int, size: str, epochs: int, device: str = "cpu") -> SeedResult:
    """Score the default and every grid point on one dataset."""
    dataset = make_dataset(family, seed, size)
    counts = dataset.val_y.bincount(minlength=dataset.num_classes)
    chance = float(counts.max()) / float(counts.sum())
    default = default_hparams()
    grid = {
        config_label(changes): best_val_accuracy(dataset, default.replace(**changes), epochs, device=device)
        for changes in GRID_CHANGES
    }
    return SeedResult(family, seed, dataset.num_classes, chance, best_val_accuracy(dataset, default, epochs, device=device), grid)


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
    for family in families:
        for seed in seeds:
            result = calibrate_seed(family, seed, size, epochs, device)
            results.append(result)
            if on_result:
                on_result(result)
    return results


def summarise(results: list[SeedResult]) -> dict[str, dict]:
    """Per family: mean chance/default/best/worst and the share of seeds meeting each target."""
    summary: dict[str, dict] = {}
    for family in dict.fromkeys(r.family for r in results):
        rows = [r for r in results if r.family == family]
        summary[family] = {
            "seeds": len(rows),
            "chance": statistics.mean(r.chance for r in rows),
            "default": statistics.mean(r.default for r in rows),
            "grid_best": statistics.mean(r.best for r in rows),
            "grid_worst": statistics.mean(r.worst for r in rows),
            "default_in_band": sum(r.default_in_band for r in rows) / len(rows),
            "grid_beats_default": sum(r.grid_beats_default for r in rows) / len(rows),
        }
    return summary
