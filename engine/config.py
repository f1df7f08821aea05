"""Hyperparameters of one epoch and their validation."""

from __future__ import annotations

import dataclasses
import math

from engine.errors import ConfigError

#: Choices the game offers for the initial configuration.
INITIAL_CHOICES = {
    "width": (32, 64, 128),
    "lr": (0.1, 0.01, 0.001),
    "depth": (2, 4, 8),
    "dropout": (0.0, 0.5),
}

#: The default schedule's configuration: the middle initial values, no regularisation.
DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_LR, DEFAULT_DROPOUT = 64, 4, 0.01, 0.0

MIN_WIDTH, MAX_WIDTH = 16, 256
MIN_DEPTH, MAX_DEPTH = 1, 16
MAX_LR = 1.0
MAX_WEIGHT_DECAY = 0.1
MAX_DROPOUT = 0.7

KNOBS = ("lr", "weight_decay", "dropout", "width", "depth")
#: The order knobs are shown in, on every page and list: architecture first, then optimisation.
DISPLAY_ORDER = ("width", "depth", "lr", "dropout", "weight_decay")


def _number(name: str, value: object) -> float:
    """Coerce ``value`` to a finite float or raise ConfigError naming the knob."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return number


def _integer(name: str, value: object) -> int:
    """Coerce ``value`` to an int (rejecting 2.5 or 'abc') or raise ConfigError."""
    number = _number(name, value)
    if number != int(number):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    return int(number)


@dataclasses.dataclass(frozen=True)
class HyperParams:
    """The five knobs of the game, validated on construction."""

    width: int
    depth: int
    lr: float
    weight_decay: float = 0.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        width = _integer("width", self.width)
        depth = _integer("depth", self.depth)
        lr = _number("learning rate", self.lr)
        weight_decay = _number("weight decay", self.weight_decay)
        dropout = _number("dropout", self.dropout)
        if not MIN_WIDTH <= width <= MAX_WIDTH or width & (width - 1):
            raise ConfigError(
                f"width must be a power of two between {MIN_WIDTH} and {MAX_WIDTH}, got {self.width!r}"
            )
        if not MIN_DEPTH <= depth <= MAX_DEPTH:
            raise ConfigError(f"depth must be between {MIN_DEPTH} and {MAX_DEPTH}, got {self.depth!r}")
        if not 0 < lr <= MAX_LR:
            raise ConfigError(f"learning rate must be above 0 and at most {MAX_LR}, got {self.lr!r}")
        if not 0 <= weight_decay <= MAX_WEIGHT_DECAY:
            raise ConfigError(
                f"weight decay must be between 0 and {MAX_WEIGHT_DECAY}, got {self.weight_decay!r}"
            )
        if not 0 <= dropout <= MAX_DROPOUT:
            raise ConfigError(f"dropout must be between 0 and {MAX_DROPOUT}, got {self.dropout!r}")
        # Normalise types so equality and JSON output do not depend on how values arrived.
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "depth", depth)
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "weight_decay", weight_decay)
        object.__setattr__(self, "dropout", dropout)

    def replace(self, **changes: object) -> "HyperParams":
        """Return a validated copy with some knobs changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict:
        """Plain JSON-ready dict of the five knobs."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "HyperParams":
        """Build from a dict with exactly the five knobs (extra keys are an error)."""
        if not isinstance(data, dict):
            raise ConfigError("configuration must be a mapping")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except TypeError as exc:  # a missing required knob
            raise ConfigError(f"incomplete configuration: {exc}") from None


def default_hparams() -> HyperParams:
    """The default schedule's configuration (width 64, depth 4, lr 0.01, no dropout)."""
    return HyperParams(DEFAULT_WIDTH, DEFAULT_DEPTH, DEFAULT_LR, 0.0, DEFAULT_DROPOUT)
