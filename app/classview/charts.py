"""Server-rendered SVG charts for the analysis page: no script, no library; each has a table twin on the page.

Many lines of one style are drawn as one <path> of sub-paths, and the parallel coordinates draw each
distinct segment once: 9,000 decisions are a few dozen elements and a few thousand segments, not
9,000 lines, which keeps the page quick for the browser to paint.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape

from markupsafe import Markup

# Okabe-Ito colours (distinguishable with colour-blindness); styles differ by more than colour.
BLUE, ORANGE, GREEN, GREY, INK = "#0072b2", "#d55e00", "#009e73", "#6b7280", "#1f2937"
W, H = 720, 320
PAD_L, PAD_R, PAD_T, PAD_B = 56, 16, 16, 44


def _svg(chart_id: str, title: str, desc: str, body: list[str], width: int = W, height: int = H) -> Markup:
    return Markup(
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        + "".join(body) + "</svg>")


def _axis_text(x: float, y: float, text: str, anchor: str = "middle", rotate: bool = False) -> str:
    transform = f' transform="rotate(-90 {x:.1f} {y:.1f})"' if rotate else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="12" fill="{INK}"{transform}>{escape(text)}</text>'


def _frame(x_label: str, y_label: str, x_ticks: list[tuple[float, str]], y_ticks: list[tuple[float, str]]) -> list[str]:
    """Axes, ticks and labels of a plot area; ticks are (fraction along the axis, text)."""
    left, right, top, bottom = PAD_L, W - PAD_R, PAD_T, H - PAD_B
    out = [f'<path d="M{left} {top}V{bottom}H{right}" fill="none" stroke="{INK}" stroke-width="1"/>']
    for f, text in x_ticks:
        x = left + f * (right - left)
        out.append(f'<path d="M{x:.1f} {bottom}v4" stroke="{INK}"/>' + _axis_text(x, bottom + 16, text))
    for f, text in y_ticks:
        y = bottom - f * (bottom - top)
        out.append(f'<path d="M{left - 4} {y:.1f}h4" stroke="{INK}"/><path d="M{left} {y:.1f}H{right}" stroke="#e5e7eb"/>'
                   + _axis_text(left - 7, y + 4, text, "end"))
    out.append(_axis_text((left + right) / 2, H - 6, x_label))
    out.append(_axis_text(14, (top + bottom) / 2, y_label, rotate=True))
    return out


STYLES = {
    "student": {"stroke": BLUE, "width": 1.2, "dash": "", "opacity": 0.45},
    "bot": {"stroke": ORANGE, "width": 3, "dash": "", "opacity": 1},
    "reference": {"stroke": INK, "width": 2, "dash": "6 4", "opacity": 0.9},
}


def curves_chart(chart_id: str, title: str, curves: list[dict]) -> Markup:
    """Validation accuracy per epoch: students thin and blue, the automatic player thick orange, references dashed."""
    epochs = max([len(c["values"]) for c in curves] + [2])
    values = [v for c in curves for v in c["values"] if v is not None]
    low = math.floor(min(values + [1.0]) * 10) / 10
    high = min(1.0, math.ceil(max(values + [low + 0.1]) * 10) / 10)
    high = max(high, low + 0.1)
    left, right, top, bottom = PAD_L, W - PAD_R, PAD_T, H - PAD_B

    def xy(i: int, v: float) -> str:
        x = left + (i / max(epochs - 1, 1)) * (right - left)
        y = bottom - (v - low) / (high - low) * (bottom - top)
        return f"{x:.1f} {y:.1f}"

    x_ticks = [(i / max(epochs - 1, 1), str(i + 1)) for i in range(0, epochs, max(1, epochs // 6))]
    y_ticks = [(k / 4, f"{low + k * (high - low) / 4:.2f}") for k in range(5)]
    body = _frame("Epoch on the final path", "Validation accuracy", x_ticks, y_ticks)
    for kind in ("student", "reference", "bot"):
        style, d = STYLES[kind], []
        for c in curves:
            if c["kind"] != kind:
                continue
            pen = "M"
            for i, v in enumerate(c["values"]):
                if v is None:
                    pen = "M"
                    continue
                d.append(pen + xy(i, v))
                pen = "L"
        if d:
            dash = f' stroke-dasharray="{style["dash"]}"' if style["dash"] else ""
            body.append(f'<path d="{"".join(d)}" fill="none" stroke="{style["stroke"]}" stroke-width="{style["width"]}" '
                        f'stroke-opacity="{style["opacity"]}"{dash} stroke-linejoin="round"/>')
    students = sum(c["kind"] == "student" for c in curves)
    desc = (f"{students} students' validation accuracy curves (thin blue), the automatic player's (thick orange) and "
            f"{sum(c['kind'] == 'reference' for c in curves)} reference players' (dashed). The table below lists each curve's score.")
    return _svg(chart_id, title, desc, body)


#: The parallel-coordinates axes: (key, label, low, high, log scale).
PARALLEL_AXES = (("epoch", "Epoch", 0, 30, False), ("val_acc", "Val. acc. shown", 0, 1, False),
                 ("lr", "Learning rate", 1e-4, 1.0, True), ("lr_move", "LR move", 0, 2, False),
                 ("delta", "Val. acc. change, next 3", -0.3, 0.3, False))
LR_MOVES = {"down": 0, "same": 1, "up": 2}


def parallel_chart(chart_id: str, rows: list[dict]) -> Markup:
    """Every decision as a line across the axes; blue solid when validation accuracy rose after it, orange dashed when it fell."""
    left, right, top, bottom = 60, W - 80, 40, H - 30  # the outer axes' titles are centred on them
    step = (right - left) / (len(PARALLEL_AXES) - 1)
    body = []
    for k, (_, label, low, high, log) in enumerate(PARALLEL_AXES):
        x = left + k * step
        body.append(f'<path d="M{x:.1f} {top}V{bottom}" stroke="{INK}"/>' + _axis_text(x, top - 22, label))
        ends = ("down", "up") if k == 3 else (f"{low:g}", f"{high:g}")
        body.append(_axis_text(x, top - 8, ends[1]) + _axis_text(x, bottom + 16, ends[0]))

    def scaled(key: str, low: float, high: float, log: bool, value) -> float | None:
        if key == "lr_move":
            value = LR_MOVES.get(value, 1)
        if value is None:
            return None
        if log:
            value, low, high = math.log10(max(value, low)), math.log10(low), math.log10(high)
        f = (min(max(value, low), high) - low) / (high - low)
        return bottom - f * (bottom - top)

    # Lines are drawn as their segments between neighbouring axes, each distinct segment once and darker
    # the more decisions cross it: 9,000 decisions share a few thousand segments, and the browser paints
    # those in a fraction of the time 9,000 translucent (some dashed) lines take. (One path's overlapping
    # sub-paths would not darken each other anyway: a path is stroked once.)
    counts: dict[str, Counter] = {"up": Counter(), "down": Counter(), "none": Counter()}
    lines = {"up": 0, "down": 0, "none": 0}
    for row in rows:
        if row["kind"] == "done":
            continue
        ys = [scaled(key, low, high, log, row.get(key)) for key, _, low, high, log in PARALLEL_AXES]
        if any(y is None for y in ys[:4]):
            continue
        delta = row.get("delta")
        group = "none" if delta is None else ("up" if delta >= 0 else "down")
        lines[group] += 1
        pts = [(round(left + k * step), round(y)) for k, y in enumerate(ys) if y is not None]
        counts[group].update(zip(pts, pts[1:]))
    busiest = max((max(c.values()) for c in counts.values() if c), default=1)
    # Falls last, so the rarer orange lines are not buried under the blue ones.
    for group, colour, dash in (("none", GREY, ""), ("up", BLUE, ""), ("down", ORANGE, ' stroke-dasharray="4 3"')):
        by_opacity: dict[float, list[str]] = {}
        for ((x0, y0), (x1, y1)), count in sorted(counts[group].items()):
            by_opacity.setdefault(_density_opacity(count, busiest), []).append(f"M{x0} {y0}L{x1} {y1}")
        for opacity, segments in sorted(by_opacity.items()):
            body.append(f'<path d="{"".join(segments)}" fill="none" stroke="{colour}" stroke-width="1" '
                        f'stroke-opacity="{opacity:g}"{dash}/>')
    shown = sum(lines.values())
    desc = (f"{shown} decisions, each a line through the epoch, the validation accuracy shown, the learning rate, "
            f"the learning-rate move and the change of validation accuracy over the next 3 epochs; "
            f"{lines['up']} followed by a rise (blue), {lines['down']} by a fall (orange, dashed). "
            "The decisions table below holds the same data.")
    return _svg(chart_id, "Decisions against outcome (parallel coordinates)", desc, body)


#: Opacity of a segment one decision crosses, and of the busiest segment on the chart.
FAINTEST, DARKEST = 0.15, 0.8


def _density_opacity(count: int, busiest: int) -> float:
    """A segment's opacity from how many decisions cross it, on a log scale up to the busiest one, in steps of 0.05."""
    share = math.log(count) / math.log(busiest) if busiest > 1 else 0.0
    return round((FAINTEST + (DARKEST - FAINTEST) * share) * 20) / 20


def _short(label: str, most: int = 60) -> str:
    """A label cut to ``most`` characters, with an ellipsis when it was longer."""
    return label if len(label) <= most else label[:most - 1] + "\u2026"


def bars_chart(chart_id: str, title: str, bars: list[tuple[str, float | None, str]], low: float, high: float) -> Markup:
    """Horizontal bars from 0: (label, value, text beside the bar); ``low`` < 0 draws a centre line."""
    row_h = 30
    height = PAD_T + row_h * max(len(bars), 1) + 30
    label_w, right = 360, W - 200  # room for the longest label and for "8 times, 8 runs" beside the bar
    zero = label_w + (0 - low) / (high - low) * (right - label_w)
    body = [f'<path d="M{zero:.1f} {PAD_T - 4}V{height - 24}" stroke="{INK}"/>',
            _axis_text(label_w, height - 8, f"{low:g}"), _axis_text(right, height - 8, f"{high:g}")]
    for i, (label, value, text) in enumerate(bars):
        y = PAD_T + i * row_h
        body.append(f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end" font-size="11" fill="{INK}">{escape(_short(label))}</text>')
        if value is not None:
            x = label_w + (min(max(value, low), high) - low) / (high - low) * (right - label_w)
            a, b = sorted((zero, x))
            colour = BLUE if value >= 0 else ORANGE
            body.append(f'<rect x="{a:.1f}" y="{y + 5}" width="{max(b - a, 1):.1f}" height="18" fill="{colour}"/>')
        body.append(f'<text x="{right + 6}" y="{y + 18}" font-size="12" fill="{INK}">{escape(text)}</text>')
    desc = "; ".join(f"{label}: {text}" for label, _, text in bars) or "No data."
    return _svg(chart_id, title, desc, body, W, height)
