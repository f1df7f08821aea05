"""What several benchmark scripts time the same way."""

from __future__ import annotations

import time


def timed(fn, *args):
    """``fn(*args)`` and the wall-clock seconds it took."""
    started = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - started
