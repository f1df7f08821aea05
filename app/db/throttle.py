"""Rate-limiting the progress and heartbeat writes of long jobs: the database is not a metronome."""

from __future__ import annotations

import dataclasses
import time


@dataclasses.dataclass
class Throttle:
    """``due()`` is true at most once every ``interval`` seconds (always when forced), and then restarts the wait."""

    interval: float
    last: float = 0.0

    def due(self, force: bool = False) -> bool:
        """Whether to write now."""
        now = time.monotonic()
        if force or now - self.last >= self.interval:
            self.last = now
            return True
        return False
