"""The one rule for a metric that may be missing or non-finite (a diverged loss is NaN or infinite)."""

from __future__ import annotations

import math


def finite(value: float | None) -> float | None:
    """``value`` as a float, or None when it is missing or not finite (what pages, exports and JSON show)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
