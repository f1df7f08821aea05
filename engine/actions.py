"""The player's actions and their text form (``continue:width=up;lr=down``, ``revert``, ``done``)."""

from __future__ import annotations

import dataclasses

from engine.config import KNOBS
from engine.errors import ActionSyntaxError

#: The kinds of action: the initial configuration (the first action of a run, it trains epoch 1),
#: then Continue (trains one more epoch), Revert and Done (train nothing).
INITIAL, CONTINUE, REVERT, DONE = "initial", "continue", "revert", "done"
#: What a player can submit on the training page.
KINDS = (CONTINUE, REVERT, DONE)
#: The one definition of which actions train an epoch.
TRAINING_KINDS = (INITIAL, CONTINUE)
MAX_ACTIONS_TEXT = 10_000


def trains_an_epoch(kind: str) -> bool:
    """True for the actions whose job trains an epoch (the initial configuration and Continue)."""
    return kind in TRAINING_KINDS


@dataclasses.dataclass(frozen=True)
class Action:
    """One submit of the training page: Continue (with knob moves), Revert or Done."""

    kind: str
    changes: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ActionSyntaxError(f"unknown action {self.kind!r}; actions are {', '.join(KINDS)}")
        if self.changes and self.kind != "continue":
            raise ActionSyntaxError(f"only continue takes knob changes, not {self.kind}")
        seen = set()
        for knob, direction in self.changes:
            if knob not in KNOBS:
                raise ActionSyntaxError(f"unknown knob {knob!r}; knobs are {', '.join(KNOBS)}")
            if direction not in ("up", "down", "same"):
                raise ActionSyntaxError(f"{knob} must be up, down or same, got {direction!r}")
            if knob in seen:
                raise ActionSyntaxError(f"{knob} is given twice")
            seen.add(knob)
        # "same" is the default: drop it so equal actions compare equal.
        object.__setattr__(self, "changes", tuple((k, d) for k, d in self.changes if d != "same"))

    @property
    def change_map(self) -> dict[str, str]:
        """The knob moves as a dict, e.g. {"width": "up"}."""
        return dict(self.changes)

    def __str__(self) -> str:
        if not self.changes:
            return self.kind
        return self.kind + ":" + ";".join(f"{k}={d}" for k, d in self.changes)


def parse_action(token: str) -> Action:
    """Parse one action such as ``continue:depth=up;lr=down``."""
    token = token.strip()
    if not token:
        raise ActionSyntaxError("empty action")
    kind, _, rest = token.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise ActionSyntaxError(f"unknown action {kind!r} in {token!r}; actions are {', '.join(KINDS)}")
    changes = []
    if rest.strip():
        for part in rest.split(";"):
            knob, sep, direction = part.partition("=")
            if not sep:
                raise ActionSyntaxError(f"knob change must look like knob=up|down, got {part!r} in {token!r}")
            changes.append((knob.strip().lower(), direction.strip().lower()))
    elif rest == "" and token.endswith(":"):
        raise ActionSyntaxError(f"nothing after ':' in {token!r}")
    return Action(kind, tuple(changes))


def parse_actions(text: str) -> list[Action]:
    """Parse a comma-separated list of actions."""
    if len(text) > MAX_ACTIONS_TEXT:
        raise ActionSyntaxError("action list is too long")
    if not text.strip():
        return []
    return [parse_action(token) for token in text.split(",")]
