"""The dataset record, split sizes and the family registry."""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from engine.errors import DatasetSpecError, UnknownFamilyError

#: Nominal examples per split for each size preset; each seed varies them a little.
SIZES: dict[str, dict[str, int]] = {
    "full": {"train": 8500, "val": 1500, "test": 1500},
    # Sized so a width-64 depth-4 CNN epoch takes a few seconds on two CPU cores.
    "small": {"train": 1200, "val": 400, "test": 400},
    "tiny": {"train": 300, "val": 100, "test": 100},
}

MAX_SEED = 2**31 - 1


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One generated dataset: three splits plus what the game shows about it."""

    family: str
    seed: int
    size: str
    num_classes: int
    input_shape: tuple[int, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def is_image(self) -> bool:
        """True for [C, H, W] inputs (a CNN), False for [D] vectors (an MLP)."""
        return len(self.input_shape) == 3

    @property
    def ref(self) -> str:
        """The ``family:seed`` string that regenerates this dataset."""
        return f"{self.family}:{self.seed}"

    def stats(self) -> dict:
        """The statistics the game shows: classes, input size, examples per split."""
        return {
            "family": self.family,
            "seed": self.seed,
            "size": self.size,
            "classes": self.num_classes,
            "input_size": list(self.input_shape),
            "examples": {
                "train": len(self.train_y),
                "val": len(self.val_y),
                "test": len(self.test_y),
            },
        }


@dataclasses.dataclass(frozen=True)
class Family:
    """A generator family: ``generate(seed, size)`` fully determines a dataset."""

    name: str
    kind: str  # "image" or "vector"
    description: str
    generate: Callable[[int, str], Dataset]
    #: Training examples relative to the size preset (validation and test keep the preset's counts) ...
    train_scale: float = 1
    #: ... for these size presets (the others keep the preset's training count).
    scaled_sizes: tuple[str, ...] = tuple(SIZES)
    #: Meets the calibration targets (docs/calibration.md), so classes may play it. A family that
    #: does not stays registered for research and for the runs already played on it.
    playable: bool = True

    def train_factor(self, size: str) -> float:
        """How many times the preset's training examples this family draws at ``size``."""
        return self.train_scale if size in self.scaled_sizes else 1

    def nominal_sizes(self, size: str) -> dict[str, int]:
        """Examples per split before the per-seed jitter."""
        factor = self.train_factor(size)
        return {split: round(n * factor) if split == "train" else n for split, n in SIZES[size].items()}


FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add a family to the registry (called once per family module)."""
    FAMILIES[family.name] = family
    return family


def playable_families() -> list[str]:
    """Names of the families classes may play, sorted."""
    return sorted(name for name, family in FAMILIES.items() if family.playable)


def check_size(size: str) -> str:
    """Return ``size`` if it names a preset, else raise DatasetSpecError."""
    if size not in SIZES:
        raise DatasetSpecError(f"unknown dataset size {size!r}; choose one of {', '.join(SIZES)}")
    return size


def parse_ref(ref: str) -> tuple[str, int]:
    """Split ``family:seed`` into its parts, validating both."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise DatasetSpecError(f"dataset must look like FAMILY:SEED, got {ref!r}")
    family, seed_text = ref.split(":")
    family = family.strip().lower()
    if family not in FAMILIES:
        raise UnknownFamilyError(
            f"unknown dataset family {family!r}; choose one of {', '.join(sorted(FAMILIES))}"
        )
    try:
        seed = int(seed_text)
    except ValueError:
        raise DatasetSpecError(f"dataset seed must be an integer, got {seed_text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise DatasetSpecError(f"dataset seed must be between 0 and {MAX_SEED}, got {seed}")
    return family, seed


def make_dataset(family: str, seed: int, size: str = "small") -> Dataset:
    """Generate the dataset fully determined by (family, seed, size)."""
    family_name, seed = parse_ref(f"{family}:{seed}")
    return FAMILIES[family_name].generate(seed, check_size(size))
