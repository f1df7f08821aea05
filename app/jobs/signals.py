"""What the embedded runner's executors share across its processes: new-work wake-ups and the CPU budget.

- New work: a generation counter per lane, bumped (under a condition) when a committed
  transaction enqueued jobs of that lane; idle executors wait on the condition, busy ones compare
  generations at their yield points to learn that higher-priority work arrived.
- The CPU budget: each executor slot says what it computes now (nothing, background work or a
  player's epoch). Pool and background work pause while a player's epoch computes (the debrief's
  work goes on beside it: app.jobs.lanes.PAUSED_FOR_PLAYERS), and every job trains with
  ``cores // jobs computing`` threads, so the cores are never oversubscribed.
"""

from __future__ import annotations

import time

from app.jobs.lanes import LANES, PLAYERS

IDLE, BACKGROUND_WORK, PLAYER_WORK = 0, 1, 2


class Signals:
    """Wake-ups and the CPU budget, built from one multiprocessing context's primitives (picklable to children)."""

    def __init__(self, context, slots: int, cores: int) -> None:
        self.cores = max(1, cores)
        self._condition = context.Condition()
        # Written under the condition's lock; plain reads elsewhere are fine for a hint.
        self._generations = context.Array("q", len(LANES), lock=False)
        # One writer per slot (its executor); the supervisor clears the slot of a process that died.
        self._busy = context.Array("b", slots, lock=False)

    # -------------------------------------------------------------- new work

    def new_work(self, lanes) -> None:
        """Jobs of ``lanes`` were committed: wake idle executors, tell busy ones at their next yield point."""
        with self._condition:
            for lane in set(lanes):
                self._generations[LANES.index(lane)] += 1
            self._condition.notify_all()

    def generation(self, lanes) -> int:
        """A number that changes whenever work of ``lanes`` is announced."""
        return sum(self._generations[LANES.index(lane)] for lane in lanes)

    def wait_for_work(self, lanes, seen: int, timeout: float) -> None:
        """Sleep until work of ``lanes`` is announced after ``seen`` (a generation), or ``timeout`` seconds."""
        with self._condition:
            if self.generation(lanes) == seen:
                self._condition.wait(timeout)

    # -------------------------------------------------------------- CPU budget

    def set_busy(self, slot: int, lane: str | None) -> None:
        """What slot ``slot`` computes now: a job of ``lane``, or nothing (None)."""
        self._busy[slot] = IDLE if lane is None else PLAYER_WORK if lane == PLAYERS else BACKGROUND_WORK

    def clear(self, slot: int) -> None:
        """Forget a slot whose process died."""
        self._busy[slot] = IDLE

    def players_computing(self) -> int:
        """Players' epochs computing now."""
        return sum(1 for value in self._busy if value == PLAYER_WORK)

    def threads_for_one_job(self) -> int:
        """Threads each computing job should train with: the cores shared evenly."""
        computing = sum(1 for value in self._busy if value != IDLE)
        return max(1, self.cores // max(1, computing))

    @staticmethod
    def nap() -> None:
        """How long a paused job waits between looks at whether it may go on."""
        time.sleep(0.05)
