"""The one way a knob value is written for people: pages, hints, the debrief, the CLI and the export's texts.

Width and depth are whole numbers; dropout is a plain decimal; the learning rate and weight decay
are plain decimals from 0.001 up (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1) and short scientific
notation below (1e-5, 3e-5, 1e-4, 3e-4), so no value shows a padded exponent ("1e-05") or a
mantissa of trailing zeros ("1.00e-02"), and one value always reads the same wherever it appears.
"""

from __future__ import annotations

import math

#: Below this a rate is written in scientific notation (its decimal form has too many zeros to read).
SCIENTIFIC_BELOW = 1e-3
INTEGER_KNOBS = ("width", "depth")


def knob_value(knob: str, value: float | int | None) -> str:
    """``value`` of ``knob`` as every page shows it ("–" when missing)."""
    if value is None:
        return "–"
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if knob in INTEGER_KNOBS:
        return str(int(round(number)))
    return rate(number)


def rate(value: float) -> str:
    """A learning rate, weight decay or dropout: 3 significant digits, scientific only below SCIENTIFIC_BELOW."""
    if value == 0:
        return "0"
    if abs(value) < SCIENTIFIC_BELOW:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    text = f"{value:.3g}"
    if "e" in text:  # 3 significant digits of a value of 1000 or more: write it out
        return f"{value:.0f}"
    return text


def config_text(config: dict, order: tuple[str, ...] = ("width", "depth", "lr", "dropout", "weight_decay"),
                labels: dict[str, str] | None = None, hidden: tuple[str, ...] | list[str] = ()) -> str:
    """A configuration as one line: "Width = 64, Depth = 4, Learning rate = 0.01, …" (hidden knobs left out)."""
    labels = labels or {"width": "Width", "depth": "Depth", "lr": "Learning rate", "dropout": "Dropout",
                        "weight_decay": "Weight decay"}
    return ", ".join(f"{labels[k]} = {knob_value(k, config[k])}" for k in order if k in config and k not in hidden)
