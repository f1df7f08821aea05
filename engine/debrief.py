"""Findings from a run's own epoch history: what happened, in the course's vocabulary, with the numbers behind it.

Pure functions over a list of :class:`Step` (one per action, in the order played): no torch, no
storage, so the in-memory game, the web app and the tests all build the same findings.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from engine import rules
from engine.config import HyperParams

#: Epochs below the peak before a fall counts as overfitting: one or two are validation noise.
OVERFIT_MIN_EPOCHS = 3
#: Training accuracy below which a network counts as underfitting, and for how many epochs in a row.
UNDERFIT_TRAIN_ACC = 0.5
UNDERFIT_MIN_EPOCHS = 4
#: Epochs after the best one that added nothing before it is worth saying (the budget is 30).
WASTED_MIN = 5
#: A learning rate this low whose training loss fell less than LOW_LR_LOSS_FALL over LOW_LR_EPOCHS epochs.
LOW_LR_MAX = 1e-3
LOW_LR_EPOCHS = 5
LOW_LR_LOSS_FALL = 0.05
LOW_LR_TRAIN_ACC = 0.9
#: Gain in validation accuracy within EFFECT_EPOCHS epochs that makes a learning-rate decay worth praising.
DECAY_GAIN = 0.03
EFFECT_EPOCHS = 3
#: The smallest single-epoch fall of validation accuracy a default branch starts before.
DROP_MIN = 0.02
#: Checkpoints kept for branches: the branch points, the LAST_KEPT latest path epochs (Revert keeps
#: those anyway while the run is played), every ANCHOR_EVERY-th epoch; at most MAX_KEPT in all.
LAST_KEPT = 3
ANCHOR_EVERY = 5
MAX_KEPT = 8
#: Divergence findings per run: more would repeat the same lesson.
MAX_DIVERGED = 2
MAX_DECAYS = 2


@dataclasses.dataclass(frozen=True)
class EpochPoint:
    """One trained epoch as the debrief sees it."""

    number: int
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    diverged: bool
    config: HyperParams
    grown: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Step:
    """One action of the run, in the order played."""

    kind: str
    epoch: EpochPoint | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """One observation about the run, naming its epochs and numbers, linked to a course-note concept."""

    kind: str
    epochs: tuple[int, ...]
    text: str
    concept: str
    figures: dict

    def as_dict(self) -> dict:
        """JSON form."""
        return {"kind": self.kind, "epochs": list(self.epochs), "text": self.text, "concept": self.concept,
                "figures": dict(self.figures)}


def _acc(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _lr(value: float) -> str:
    return f"{value:g}"


def _plural(n: int, word: str = "epoch") -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ok(point: EpochPoint) -> bool:
    return not point.diverged and point.val_acc is not None


def final_path(steps: Sequence[Step]) -> list[EpochPoint]:
    """The epochs still on the path at the end (reverted ones removed), oldest first."""
    path: list[EpochPoint] = []
    for step in steps:
        if step.epoch is not None:
            path.append(step.epoch)
        elif step.kind == "revert" and path:
            path.pop()
    return path


def _best_index(path: Sequence[EpochPoint]) -> int | None:
    best = None
    for i, point in enumerate(path):
        if _ok(point) and (best is None or point.val_acc > path[best].val_acc):
            best = i
    return best


def _overfitting(steps: Sequence[Step]) -> list[Finding]:
    """Validation accuracy peaked, then stayed below the peak for several epochs while training accuracy rose."""
    path: list[EpochPoint] = []
    for i, step in enumerate(steps):
        if step.epoch is not None:
            path.append(step.epoch)
        elif step.kind == "revert" and path:
            path.pop()
        finding = _overfit_at(path, steps[i + 1:] if i + 1 < len(steps) else [])
        if finding:
            return [finding]
    return []


def _overfit_at(path: list[EpochPoint], rest: Sequence[Step]) -> Finding | None:
    """Overfitting ending at the last path epoch, reported when the player reacts next (or the run ends)."""
    if len(path) < OVERFIT_MIN_EPOCHS + 1:
        return None
    next_kind = rest[0].kind if rest else "end"
    if next_kind == "continue" and rest[0].epoch is not None:
        return None  # still going on: judged at the player's next reaction
    peak = _best_index(path)
    if peak is None:
        return None
    after = path[peak + 1:]
    if len(after) < OVERFIT_MIN_EPOCHS or not all(_ok(p) and p.val_acc < path[peak].val_acc for p in after):
        return None
    top = path[peak]
    if after[-1].train_acc is None or top.train_acc is None or after[-1].train_acc <= top.train_acc:
        return None  # training accuracy fell too: that is not overfitting
    lowest = min(p.val_acc for p in after)
    n = len(after)
    reaction = {"revert": f"You reverted after {_plural(n)}.", "done": f"You pressed Done after {_plural(n)}.",
                "end": "The run ended without a revert."}.get(next_kind, "You did not revert.")
    text = (f"Validation accuracy peaked at {_acc(top.val_acc)} at epoch {top.number}, then stayed below it for "
            f"{_plural(n)} (down to {_acc(lowest)}) while training accuracy rose to {_acc(after[-1].train_acc)}: "
            f"the network overfit. {reaction}")
    return Finding("overfitting", (top.number, after[-1].number), text, "overfitting", {
        "peak_epoch": top.number, "peak_val_acc": top.val_acc, "epochs_after_peak": n, "lowest_val_acc": lowest,
        "train_acc": after[-1].train_acc, "reaction_epochs": n if next_kind == "revert" else None})


def _diverged(steps: Sequence[Step]) -> list[Finding]:
    """Each divergence, tied to a learning-rate rise in the epochs just before it when there was one."""
    findings = []
    trained = [s.epoch for s in steps if s.epoch is not None]
    for i, point in enumerate(trained):
        if not (point.diverged or point.train_loss is None or point.val_loss is None):
            continue
        if i > 0 and trained[i - 1].diverged:
            continue  # the same episode
        raised = None
        for back in range(i, max(-1, i - 3), -1):
            if back > 0 and trained[back].config.lr > trained[back - 1].config.lr * (1 + 1e-9):
                raised = trained[back]
                break
        if raised is None:
            text = (f"The loss diverged at epoch {point.number} with learning rate {_lr(point.config.lr)}: "
                    "the learning rate was too high.")
            epochs = (point.number,)
        else:
            gap = point.number - raised.number
            when = "right after" if gap == 0 else f"{_plural(gap)} after"
            text = (f"The loss diverged at epoch {point.number}, {when} you raised the learning rate to "
                    f"{_lr(raised.config.lr)} at epoch {raised.number}.")
            epochs = tuple(sorted({raised.number, point.number}))
        findings.append(Finding("diverged", epochs, text, "divergence",
                                {"epoch": point.number, "lr": point.config.lr,
                                 "raised_at": raised.number if raised else None}))
        if len(findings) >= MAX_DIVERGED:
            break
    return findings


def _gain_after(path: Sequence[EpochPoint], index: int) -> float | None:
    """Best validation accuracy of the EFFECT_EPOCHS epochs from ``index`` on, minus the epoch before it."""
    if index == 0 or not _ok(path[index - 1]):
        return None
    window = [p.val_acc for p in path[index:index + EFFECT_EPOCHS] if _ok(p)]
    return None if not window else max(window) - path[index - 1].val_acc


def _underfit(path: Sequence[EpochPoint]) -> list[Finding]:
    """Training accuracy stayed low for several epochs in a row; growing the network afterwards, and what it did."""
    start = None
    for i, point in enumerate(list(path) + [None]):
        low = point is not None and point.train_acc is not None and point.train_acc < UNDERFIT_TRAIN_ACC
        if low and start is None:
            start = i
        if not low and start is not None:
            if i - start >= UNDERFIT_MIN_EPOCHS:
                return [_underfit_finding(path, start, i - 1)]
            start = None
    return []


def _underfit_finding(path: Sequence[EpochPoint], first: int, last: int) -> Finding:
    a, b = path[first], path[last]
    n = last - first + 1
    text = (f"Training accuracy stayed below {UNDERFIT_TRAIN_ACC:.2f} for {_plural(n)} (epochs {a.number}–{b.number}): "
            "the network underfit.")
    epochs = [a.number, b.number]
    figures = {"first_epoch": a.number, "last_epoch": b.number, "epochs": n, "grew_at": None, "gain": None}
    grown = next((i for i in range(first + 1, len(path)) if path[i].grown), None)
    if grown is not None:
        gain = _gain_after(path, grown)
        moves = " and ".join(f"{k} up" for k in path[grown].grown)
        if gain is not None:
            verb = "raised" if gain >= 0 else "lowered"
            text += (f" Growing it ({moves} at epoch {path[grown].number}) {verb} validation accuracy by "
                     f"{abs(gain):.2f} within {EFFECT_EPOCHS} epochs.")
        epochs.append(path[grown].number)
        figures.update(grew_at=path[grown].number, gain=gain)
    return Finding("underfit", tuple(sorted(set(epochs))), text, "underfitting", figures)


def _lr_too_low(path: Sequence[EpochPoint]) -> list[Finding]:
    """A stretch at one low learning rate in which the training loss barely moved."""
    i = 0
    while i < len(path):
        j = i
        while j + 1 < len(path) and path[j + 1].config.lr == path[i].config.lr:
            j += 1
        stretch = path[i:j + 1]
        lr = path[i].config.lr
        if len(stretch) >= LOW_LR_EPOCHS and lr <= LOW_LR_MAX * (1 + 1e-9):
            first, last = stretch[0].train_loss, stretch[-1].train_loss
            accs = [p.train_acc for p in stretch if p.train_acc is not None]
            if first and last is not None and first > 0 and (first - last) / first < LOW_LR_LOSS_FALL \
                    and accs and max(accs) < LOW_LR_TRAIN_ACC:
                fall = (first - last) / first
                text = (f"From epoch {stretch[0].number} to {stretch[-1].number} at learning rate {_lr(lr)} the training "
                        f"loss fell only {max(fall, 0) * 100:.0f}%: the learning rate was likely too low.")
                return [Finding("lr_too_low", (stretch[0].number, stretch[-1].number), text, "lr",
                                {"lr": lr, "loss_fall": fall, "epochs": len(stretch)})]
        i = j + 1
    return []


def _wasted(path: Sequence[EpochPoint]) -> list[Finding]:
    """Epochs after the best one that never beat it."""
    best = _best_index(path)
    if best is None:
        return []
    wasted = len(path) - 1 - best
    if wasted < WASTED_MIN:
        return []
    top = path[best]
    text = (f"The best epoch was {top.number} ({_acc(top.val_acc)}); the last {_plural(wasted)} added nothing.")
    return [Finding("wasted_epochs", (top.number, path[-1].number), text, "plateau",
                    {"best_epoch": top.number, "best_val_acc": top.val_acc, "wasted": wasted})]


def _lr_decays(path: Sequence[EpochPoint]) -> list[Finding]:
    """Learning-rate decays that paid off within a few epochs."""
    findings = []
    for i in range(1, len(path)):
        if path[i].config.lr >= path[i - 1].config.lr * (1 - 1e-9):
            continue
        gain = _gain_after(path, i)
        if gain is None or gain < DECAY_GAIN:
            continue
        window = [p for p in path[i:i + EFFECT_EPOCHS] if _ok(p)]
        top = max(window, key=lambda p: p.val_acc)
        text = (f"Lowering the learning rate to {_lr(path[i].config.lr)} at epoch {path[i].number} raised validation "
                f"accuracy from {_acc(path[i - 1].val_acc)} to {_acc(top.val_acc)} within {EFFECT_EPOCHS} epochs.")
        findings.append(Finding("lr_decay", (path[i].number, top.number), text, "lr",
                                {"epoch": path[i].number, "lr": path[i].config.lr, "gain": gain}))
        if len(findings) >= MAX_DECAYS:
            break
    return findings


def findings(steps: Sequence[Step]) -> list[Finding]:
    """Every finding of the run, most important first; empty for a clean run."""
    path = final_path(steps)
    return (_diverged(steps) + _overfitting(steps) + _underfit(path) + _lr_too_low(path) + _wasted(path)
            + _lr_decays(path))


def branch_points(path: Sequence[EpochPoint], max_epochs: int = rules.MAX_EPOCHS) -> list[tuple[int, str]]:
    """Default epochs to branch from: the best epoch, and the one just before the biggest fall of validation accuracy."""
    points: dict[int, str] = {}
    best = _best_index(path)
    if best is not None:
        points[path[best].number] = "best"
    drop, before = DROP_MIN, None
    for i in range(1, len(path)):
        if _ok(path[i - 1]) and (not _ok(path[i]) or path[i - 1].val_acc - path[i].val_acc >= drop):
            fall = path[i - 1].val_acc - (path[i].val_acc if _ok(path[i]) else 0.0)
            if fall >= drop:
                drop, before = fall, path[i - 1].number
    if before is not None:
        points.setdefault(before, "before_drop")
    return sorted((e, r) for e, r in points.items() if e < max_epochs)


def kept_epochs(path: Sequence[EpochPoint], max_epochs: int = rules.MAX_EPOCHS) -> set[int]:
    """Epochs whose checkpoints the debrief keeps: branch points, the latest epochs, anchors (at most MAX_KEPT)."""
    kept = {e for e, _ in branch_points(path, max_epochs)}
    usable = [p.number for p in path if p.number < max_epochs and _ok(p)]
    latest = usable[::-1][:LAST_KEPT]
    anchors = [n for n in usable if n % ANCHOR_EVERY == 0]
    for number in latest + anchors:
        if len(kept) >= MAX_KEPT:
            break
        kept.add(number)
    return kept


def steps_from_outcomes(outcomes) -> list[Step]:
    """Steps of an engine.game Outcome list (revert and done outcomes carry no epoch)."""
    import math

    def clean(value):
        return None if value is None or not math.isfinite(value) else float(value)

    steps = []
    for outcome in outcomes:
        m = outcome.metrics
        if outcome.kind in ("initial", "continue") and m is not None:
            grown = tuple(s.knob for s in (outcome.change.steps if outcome.change else ()) if s.direction == "up")
            point = EpochPoint(outcome.epoch, clean(m.train_loss), clean(m.train_acc), clean(m.val_loss),
                               clean(m.val_acc), bool(m.diverged), outcome.config, grown)
            steps.append(Step(outcome.kind, point))
        else:
            steps.append(Step(outcome.kind, None))
    return steps
