"""Priority lanes: which background work goes first when there is more than the machine can do at once."""

from __future__ import annotations

#: A player's epoch: someone is watching its progress bar.
PLAYERS = "players"
#: What a player waits for after Done: the hidden test accuracy, the debrief's branches.
DEBRIEF = "debrief"
#: Baselines of datasets nobody can play until they are computed.
POOL = "pool"
#: Reference players and everything else no one is waiting for.
BACKGROUND = "background"
#: Network I/O (grade posts to an LMS): served by a thread of its own, never behind training.
IO = "io"

#: Lanes whose jobs train or evaluate networks, highest priority first.
TRAINING_LANES = (PLAYERS, DEBRIEF, POOL, BACKGROUND)
LANES = (*TRAINING_LANES, IO)
#: Lanes whose jobs stop computing while a player's epoch computes: nobody is watching them. The
#: debrief's work shares the cores instead (cores / jobs computing), for a player who pressed Done
#: is waiting for it; it still never goes before a player's epoch (yield points run those first).
PAUSED_FOR_PLAYERS = (POOL, BACKGROUND)
#: A job's priority: its lane's position (lower runs first).
PRIORITY = {lane: index for index, lane in enumerate(LANES)}
#: What the dashboard calls each lane.
LABELS = {PLAYERS: "players' epochs", DEBRIEF: "after Done", POOL: "pool baselines", BACKGROUND: "background",
          IO: "network I/O"}


def higher_than(lane: str) -> tuple[str, ...]:
    """The training lanes that go before ``lane``."""
    return TRAINING_LANES[:TRAINING_LANES.index(lane)] if lane in TRAINING_LANES else ()


def parse_lanes(text: str) -> list[str]:
    """Training lanes named in a comma-separated list, in priority order; ValueError for an unknown name."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TRAINING_LANES]
    if unknown or not names:
        raise ValueError(f"unknown lanes {unknown or [text]}; choose from {', '.join(TRAINING_LANES)}")
    return [lane for lane in TRAINING_LANES if lane in names]
