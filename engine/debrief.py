"""The debrief of a finished run: short teaching observations drawn from its own epoch history.

Pure Python on purpose (no torch, no web stack): the web app computes findings from database rows,
the CLI and the bots from engine.game Outcomes, and both feed the same :class:`Step` list here.

Every finding names the epochs and the numbers behind it, links a course-note concept, and fires
only when the history clearly supports it: the thresholds below are set well above the
epoch-to-epoch noise of a validation accuracy measured on ~1,500 examples (one standard deviation
is about 0.013 at an accuracy of 0.6).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

from engine import rules
from engine.config import HyperParams
from engine.formatting import knob_value
from engine.numbers import finite
from engine.actions import DONE, trains_an_epoch

GROWABLE = ("width", "depth")

# --- overfitting -------------------------------------------------------------------------------
#: Epochs in a row below the peak: one or two lower epochs are noise, three are a trend.
OVERFIT_MIN_EPOCHS = 3
#: How far below the peak validation accuracy must end up: about 2.5 standard deviations of noise.
OVERFIT_MIN_DROP = 0.03
#: How much training accuracy must rise over the same epochs, so the gap grows from both sides.
OVERFIT_MIN_TRAIN_RISE = 0.02

# --- divergence --------------------------------------------------------------------------------
#: A raise of the learning rate this many epochs before a divergence (or for it) is its likely cause.
DIVERGE_RAISE_WINDOW = 2
#: Divergence findings per run: more would repeat the same lesson.
MAX_DIVERGED = 2

# --- underfitting ------------------------------------------------------------------------------
#: Training accuracy below this means the network does not even fit its training data.
UNDERFIT_TRAIN_ACC = 0.5
#: Epochs in a row below it: the first epoch or two of any run may be that low.
UNDERFIT_MIN_EPOCHS = 4

# --- wasted epochs -----------------------------------------------------------------------------
#: Epochs after the best one that did not beat it: a sixth of the 30-epoch budget spent for nothing.
WASTED_MIN = 5

# --- learning rate too low ---------------------------------------------------------------------
#: Only small learning rates are suspected: above this a stalled loss has other causes.
LR_LOW_MAX = 1e-3
#: Epochs in a row at that one learning rate: enough for a reasonable rate to show clear progress.
LR_LOW_MIN_EPOCHS = 5
#: Total relative fall of the training loss over those epochs below which it "barely changed".
LR_LOW_MAX_FALL = 0.05
#: A network with training accuracy at or above this has learned; a slow loss is then fine-tuning.
LR_LOW_TRAIN_ACC = 0.9

# --- effects of a move (growth, learning-rate decay) -------------------------------------------
#: Epochs, counting the one the move trained, over which its effect on validation accuracy is read.
EFFECT_WINDOW = 3
#: Gain of validation accuracy that credits a learning-rate Down: about 2.5 standard deviations.
LR_DECAY_MIN_GAIN = 0.03
#: Learning-rate decay findings per run (the largest gains).
MAX_LR_DECAY = 2
#: Learning-rate-too-low findings per run.
MAX_LR_TOO_LOW = 2

# --- stopped early -----------------------------------------------------------------------------
#: Budget left (epochs on the current network) at Done for stopping to count as early: a third of it.
STOPPED_EARLY_MIN_LEFT = 10
#: Over the last this-many epochs validation accuracy must have risen ...
STILL_RISING_EPOCHS = 3
#: ... by at least this much (about 2.5 standard deviations of noise), ending on the run's best epoch.
STILL_RISING_GAIN = 0.03

# --- branches and kept checkpoints -------------------------------------------------------------
#: Smallest single-epoch fall of validation accuracy worth a branch from the epoch before it (~4 sigma).
DROP_MIN = 0.05
#: Every this-many-th epoch on the path keeps its checkpoint, so the player can branch from across the run.
ANCHOR_EVERY = 5
#: Checkpoints one run's debrief may keep (each is a whole network with optimizer state).
MAX_KEPT = 8
#: The latest path epochs whose checkpoints are kept too.
LAST_KEPT = 3

#: Order of the findings, most important first: a broken run before a tuning hint.
KIND_ORDER = ("diverged", "overfitting", "underfit", "stopped_early", "lr_too_low", "wasted_epochs", "lr_decay")

_EPS = 1e-9  # thresholds compare with a tolerance: 0.64 - 0.61 is 0.0299999... in floating point


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
    """One teaching observation of the debrief."""

    kind: str
    epochs: tuple[int, ...]
    text: str
    concept: str
    figures: dict = dataclasses.field(hash=False)

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {"kind": self.kind, "epochs": list(self.epochs), "text": self.text,
                "concept": self.concept, "figures": dict(self.figures)}


@dataclasses.dataclass
class _Played:
    """A trained epoch in training order, with the path it was trained on."""

    point: EpochPoint
    parents: tuple[EpochPoint, ...]  # the path before it, oldest first
    reverted_after: bool = False     # a revert came before the next epoch was trained


# --- formatting --------------------------------------------------------------------------------

def _acc(value: float) -> str:
    return f"{value:.2f}"


def _lr(value: float) -> str:
    return knob_value("lr", value)


def _count(n: int, noun: str = "epoch") -> str:
    words = {1: "one", 2: "two"}
    return f"{words.get(n, n)} {noun}{'' if n == 1 else 's'}"


def _percent(fraction: float) -> str:
    pct = 100 * fraction
    return "under 1%" if 0 < pct < 0.5 else f"{pct:.0f}%"


def _same_lr(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def _broken(p: EpochPoint) -> bool:
    """True when the epoch diverged: flagged, or a loss that is not a finite number."""
    return p.diverged or p.train_loss is None or p.val_loss is None


# --- the run's history -------------------------------------------------------------------------

def _walk(steps: Sequence[Step]) -> tuple[list[_Played], list[EpochPoint]]:
    """Replay the steps: every trained epoch in training order, and the path left at the end."""
    played: list[_Played] = []
    path: list[EpochPoint] = []
    for step in steps:
        if trains_an_epoch(step.kind) and step.epoch is not None:
            played.append(_Played(step.epoch, tuple(path)))
            path.append(step.epoch)
        elif step.kind == "revert":
            if path:
                path.pop()
            if played:
                played[-1].reverted_after = True
    return played, path


def final_path(steps: Sequence[Step]) -> list[EpochPoint]:
    """The epochs still on the path at the end (reverted ones removed), oldest first."""
    return _walk(steps)[1]


def _best(path: Sequence[EpochPoint]) -> int | None:
    """Index of the best non-diverged validation accuracy on ``path`` (earliest on a tie)."""
    best = None
    for i, p in enumerate(path):
        if not p.diverged and p.val_acc is not None and (best is None or p.val_acc > path[best].val_acc):
            best = i
    return best


def _window_best(path: Sequence[EpochPoint], start: int) -> EpochPoint | None:
    """The epoch with the best validation accuracy among EFFECT_WINDOW epochs from ``start`` on."""
    window = [p for p in path[start:start + EFFECT_WINDOW] if p.val_acc is not None]
    return max(window, key=lambda p: p.val_acc) if window else None


def _only_change(path: Sequence[EpochPoint], start: int, knobs: tuple[str, ...]) -> bool:
    """The move into ``path[start]`` changed only ``knobs``, and nothing changed again within EFFECT_WINDOW epochs.

    A gain measured over those epochs can then be credited to that one move; with another change
    in between (or at the same time) nobody can say which one paid off.
    """
    if start < 1:
        return False
    before, at = path[start - 1].config.as_dict(), path[start].config.as_dict()
    if any(before[k] != at[k] for k in before if k not in knobs):
        return False
    later = path[start + 1:start + EFFECT_WINDOW]
    return all(p.config == path[start].config and not p.grown for p in later)


# --- 1. overfitting ----------------------------------------------------------------------------

def _fall_after(played: list[_Played], i: int) -> list[_Played]:
    """Epochs trained right after ``played[i]`` (no revert between) with validation accuracy below it."""
    peak = played[i].point.val_acc
    stretch: list[_Played] = []
    last = played[i]
    for item in played[i + 1:]:
        p = item.point
        if last.reverted_after or _broken(p) or p.val_acc is None or p.train_acc is None or p.val_acc >= peak:
            break
        stretch.append(item)
        last = item
    return stretch


def _overfitting(played: list[_Played], ended_done: bool) -> list[Finding]:
    """The clearest overfitting episode: validation accuracy fell from a peak while training accuracy rose."""
    best = None
    for i, item in enumerate(played):
        peak = item.point
        if _broken(peak) or peak.val_acc is None or peak.train_acc is None:
            continue
        stretch = _fall_after(played, i)
        if len(stretch) < OVERFIT_MIN_EPOCHS:
            continue
        end = stretch[-1].point
        drop, rise = peak.val_acc - end.val_acc, end.train_acc - peak.train_acc
        if drop + _EPS >= OVERFIT_MIN_DROP and rise + _EPS >= OVERFIT_MIN_TRAIN_RISE:
            if best is None or drop > best[0] + _EPS:
                best = (drop, i, stretch)
    if best is None:
        return []
    _, i, stretch = best
    return [_overfitting_finding(played, i, stretch, ended_done)]


def _overfitting_finding(played: list[_Played], i: int, stretch: list[_Played], ended_done: bool) -> Finding:
    peak, end = played[i].point, stretch[-1].point
    k = len(stretch)
    reverted = stretch[-1].reverted_after
    at_run_end = i + k == len(played) - 1
    if reverted:
        reaction = f"You reverted after {_count(k)}."
    elif at_run_end and ended_done:
        reaction = f"You pressed Done after {_count(k)}."
    else:
        reaction = "You did not revert."
    text = (f"Validation accuracy peaked at {_acc(peak.val_acc)} at epoch {peak.number}, then fell for {_count(k)} "
            f"(to {_acc(end.val_acc)} at epoch {end.number}) while training accuracy rose to {_acc(end.train_acc)}: "
            f"the network overfit. {reaction}")
    figures = {
        "peak_epoch": peak.number, "peak_val_acc": peak.val_acc, "epochs_after_peak": k,
        "end_epoch": end.number, "end_val_acc": end.val_acc,
        "peak_train_acc": peak.train_acc, "end_train_acc": end.train_acc,
        "gap_at_peak": peak.train_acc - peak.val_acc, "gap_at_end": end.train_acc - end.val_acc,
        "reaction_epochs": k if reverted else None,
    }
    return Finding("overfitting", tuple(sorted({peak.number, end.number})), text, "overfitting", figures)


# --- 2. divergence -----------------------------------------------------------------------------

def _lr_raise(item: _Played) -> tuple[EpochPoint, float] | None:
    """The latest learning-rate raise by the action that trained ``item`` or the DIVERGE_RAISE_WINDOW before it."""
    chain = list(item.parents) + [item.point]
    for back in range(DIVERGE_RAISE_WINDOW + 1):
        j = len(chain) - 1 - back
        if j < 1:
            break
        before, raised = chain[j - 1].config.lr, chain[j].config.lr
        if raised > before and not _same_lr(raised, before):
            return chain[j], before
    return None


def _diverged(played: list[_Played]) -> list[Finding]:
    """One finding per divergence episode (diverged epochs with no healthy epoch trained between them)."""
    found: list[Finding] = []
    previous_broken = False
    for item in played:
        broken = _broken(item.point)
        if broken and not previous_broken and len(found) < MAX_DIVERGED:
            found.append(_diverged_finding(item))
        previous_broken = broken
    return found


def _diverged_finding(item: _Played) -> Finding:
    point = item.point
    lr = point.config.lr
    raise_ = _lr_raise(item)
    figures: dict = {"epoch": point.number, "lr": lr, "raise_epoch": None, "lr_before": None, "raised_lr": None}
    if raise_ is None:
        text = f"The loss diverged at epoch {point.number} with learning rate {_lr(lr)}: the learning rate was too high."
        return Finding("diverged", (point.number,), text, "divergence", figures)
    raised, before = raise_
    figures.update(raise_epoch=raised.number, lr_before=before, raised_lr=raised.config.lr)
    if raised is point:
        text = (f"The loss diverged at epoch {point.number}, right after you raised the learning rate "
                f"from {_lr(before)} to {_lr(lr)}.")
        return Finding("diverged", (point.number,), text, "divergence", figures)
    text = (f"The loss diverged at epoch {point.number}, {_count(point.number - raised.number)} after you raised "
            f"the learning rate to {_lr(raised.config.lr)} at epoch {raised.number}.")
    return Finding("diverged", (raised.number, point.number), text, "divergence", figures)


# --- 3. underfitting ---------------------------------------------------------------------------

def _runs(path: Sequence[EpochPoint], keep) -> Iterable[tuple[int, int]]:
    """Maximal index ranges [start, end) of consecutive path epochs for which ``keep(previous, epoch)`` holds."""
    start = None
    for i, p in enumerate(path):
        if start is not None and not keep(path[start], p):
            yield start, i
            start = None
        if start is None and keep(p, p):
            start = i
    if start is not None:
        yield start, len(path)


def _underfit(path: Sequence[EpochPoint]) -> list[Finding]:
    """The longest stretch of training accuracy below UNDERFIT_TRAIN_ACC, and what growing the network did."""
    def low(first: EpochPoint, p: EpochPoint) -> bool:
        return p.train_acc is not None and p.train_acc < UNDERFIT_TRAIN_ACC

    stretches = [(a, b) for a, b in _runs(path, low) if b - a >= UNDERFIT_MIN_EPOCHS]
    if not stretches:
        return []
    a, b = max(stretches, key=lambda s: (s[1] - s[0], -s[0]))
    first, last = path[a], path[b - 1]
    text = (f"Training accuracy stayed below {_acc(UNDERFIT_TRAIN_ACC)} for {b - a} epochs "
            f"(epochs {first.number}–{last.number}): the network underfit.")
    epochs = {first.number, last.number}
    figures: dict = {"first_epoch": first.number, "last_epoch": last.number, "epochs": b - a,
                     "max_train_acc": max(p.train_acc for p in path[a:b]),
                     "growth_epoch": None, "growth_gain": None}
    growth = next((g for g in range(a + 1, len(path)) if path[g].grown), None)
    after = _window_best(path, growth) if growth is not None else None
    if after is not None and path[growth - 1].val_acc is not None and _only_change(path, growth, GROWABLE):
        grown, before = path[growth], path[growth - 1].val_acc
        gain = after.val_acc - before
        what = " and ".join(grown.grown)
        effect = (f"raised validation accuracy by {_acc(gain)}" if round(gain, 2) > 0
                  else "did not raise validation accuracy")
        text += f" Growing it ({what} up at epoch {grown.number}) {effect} within {EFFECT_WINDOW} epochs."
        epochs.add(grown.number)
        figures.update(growth_epoch=grown.number, growth_gain=gain, val_acc_before_growth=before)
    return [Finding("underfit", tuple(sorted(epochs)), text, "underfitting", figures)]


# --- 4. wasted epochs --------------------------------------------------------------------------

def _wasted(path: Sequence[EpochPoint]) -> list[Finding]:
    """The best epoch was followed by at least WASTED_MIN epochs that did not beat it."""
    best = _best(path)
    if best is None or len(path) - best - 1 < WASTED_MIN:
        return []
    point, wasted = path[best], len(path) - best - 1
    text = (f"The best epoch was {point.number} (validation accuracy {_acc(point.val_acc)}); "
            f"the last {wasted} epochs added nothing.")
    figures = {"best_epoch": point.number, "best_val_acc": point.val_acc, "wasted": wasted}
    return [Finding("wasted_epochs", (point.number,), text, "plateau", figures)]


# --- 5. learning rate too low ------------------------------------------------------------------

def _lr_too_low(path: Sequence[EpochPoint]) -> list[Finding]:
    """Stretches at one small learning rate where the training loss barely moved."""
    def same_low_lr(first: EpochPoint, p: EpochPoint) -> bool:
        return (p.train_loss is not None and p.train_acc is not None and not p.diverged
                and p.config.lr <= LR_LOW_MAX * (1 + _EPS) and _same_lr(p.config.lr, first.config.lr))

    found = []
    for a, b in _runs(path, same_low_lr):
        window = path[a:b]
        first, last = window[0], window[-1]
        if len(window) < LR_LOW_MIN_EPOCHS or first.train_loss <= 0:
            continue
        fall = (first.train_loss - last.train_loss) / first.train_loss
        if fall >= LR_LOW_MAX_FALL or max(p.train_acc for p in window) >= LR_LOW_TRAIN_ACC:
            continue
        moved = (f"fell only {_percent(fall)}" if fall > 0 else "did not fall")
        text = (f"From epoch {first.number} to {last.number} at learning rate {_lr(first.config.lr)} the training loss "
                f"{moved} (from {first.train_loss:.2f} to {last.train_loss:.2f}): the learning rate was likely too low.")
        figures = {"first_epoch": first.number, "last_epoch": last.number, "lr": first.config.lr,
                   "loss_first": first.train_loss, "loss_last": last.train_loss, "loss_fall": fall}
        found.append(Finding("lr_too_low", (first.number, last.number), text, "lr", figures))
    return found[:MAX_LR_TOO_LOW]


# --- 6. learning-rate decay that helped --------------------------------------------------------

def _lr_decay(path: Sequence[EpochPoint]) -> list[Finding]:
    """Learning-rate Downs followed by a clear rise of validation accuracy (the largest gains first)."""
    found = []
    for i in range(1, len(path)):
        before, point = path[i - 1], path[i]
        lowered = point.config.lr < before.config.lr and not _same_lr(point.config.lr, before.config.lr)
        after = _window_best(path, i)
        if not lowered or before.val_acc is None or after is None or not _only_change(path, i, ("lr",)):
            continue
        gain = after.val_acc - before.val_acc
        if gain + _EPS < LR_DECAY_MIN_GAIN:
            continue
        text = (f"Lowering the learning rate to {_lr(point.config.lr)} at epoch {point.number} raised validation "
                f"accuracy from {_acc(before.val_acc)} to {_acc(after.val_acc)} within {EFFECT_WINDOW} epochs.")
        figures = {"epoch": point.number, "lr": point.config.lr, "lr_before": before.config.lr,
                   "val_acc_before": before.val_acc, "val_acc_after": after.val_acc,
                   "best_epoch": after.number, "gain": gain}
        found.append(Finding("lr_decay", (point.number,), text, "lr", figures))
    found.sort(key=lambda f: -f.figures["gain"])
    return found[:MAX_LR_DECAY]


# --- 7. stopped early while still improving ----------------------------------------------------

def _stopped_early(path: Sequence[EpochPoint], ended_done: bool, max_epochs: int = rules.MAX_EPOCHS) -> list[Finding]:
    """Done with much of the budget left while validation accuracy was still rising to a new best."""
    left = max_epochs - len(path)
    if not ended_done or left < STOPPED_EARLY_MIN_LEFT or len(path) <= STILL_RISING_EPOCHS:
        return []
    best = _best(path)
    last, earlier = path[-1], path[-1 - STILL_RISING_EPOCHS]
    if best != len(path) - 1 or earlier.val_acc is None or last.val_acc is None:
        return []
    rise = last.val_acc - earlier.val_acc
    if rise + _EPS < STILL_RISING_GAIN:
        return []
    text = (f"You pressed Done after epoch {last.number} with {left} epochs of the budget left, while validation "
            f"accuracy was still rising ({_acc(earlier.val_acc)} at epoch {earlier.number} to {_acc(last.val_acc)} "
            f"at epoch {last.number}, a new best): more epochs would likely have raised your score.")
    figures = {"last_epoch": last.number, "epochs_left": left, "from_epoch": earlier.number,
               "val_acc_from": earlier.val_acc, "val_acc_last": last.val_acc, "rise": rise}
    return [Finding("stopped_early", (earlier.number, last.number), text, "plateau", figures)]


# --- the debrief -------------------------------------------------------------------------------

def findings(steps: Sequence[Step]) -> list[Finding]:
    """Every finding of the run, most important first; empty for a clean run."""
    played, path = _walk(steps)
    ended_done = bool(steps) and steps[-1].kind == DONE
    stopped = _stopped_early(path, ended_done)
    underfit = _underfit(path)
    if stopped and underfit and underfit[0].figures["last_epoch"] == path[-1].number:
        # Low training accuracy up to a Done while validation accuracy still climbed: the network was
        # still learning, not unable to fit. The finding is the early stop, not underfitting.
        underfit = []
    found = (_diverged(played) + _overfitting(played, ended_done) + underfit + stopped
             + _lr_too_low(path) + _wasted(path) + _lr_decay(path))
    return sorted(found, key=lambda f: KIND_ORDER.index(f.kind))  # stable: order within a kind is kept


def _biggest_drop(path: Sequence[EpochPoint]) -> tuple[EpochPoint, float] | None:
    """The epoch before the biggest single-epoch fall of validation accuracy, and that fall."""
    best = None
    for before, after in zip(path, path[1:]):
        if before.diverged or before.val_acc is None or after.val_acc is None:
            continue
        fall = before.val_acc - after.val_acc
        if fall > 0 and (best is None or fall > best[1]):
            best = (before, fall)
    return best


def branch_points(path: Sequence[EpochPoint], max_epochs: int = rules.MAX_EPOCHS) -> list[tuple[int, str]]:
    """Default epochs to branch from, as (epoch, reason) with reason "best" or "before_drop", ascending."""
    points: dict[int, str] = {}
    drop = _biggest_drop(path)
    if drop is not None and drop[1] + _EPS >= DROP_MIN:
        points[drop[0].number] = "before_drop"
    best = _best(path)
    if best is not None:
        points[path[best].number] = "best"  # the best epoch wins a tie with before_drop
    return sorted((n, reason) for n, reason in points.items() if n < max_epochs)


def kept_epochs(path: Sequence[EpochPoint], max_epochs: int = rules.MAX_EPOCHS) -> set[int]:
    """Epochs whose checkpoints the debrief keeps: branch points, the latest epochs, anchors; at most MAX_KEPT.

    The LAST_KEPT latest path epochs are kept because Revert keeps them anyway while the run is
    played, and they give a short run (no anchor yet) epochs to pick; anchors go first when capped.
    """
    branch = [n for n, _ in branch_points(path, max_epochs)][:MAX_KEPT]
    usable = [p.number for p in path if p.number < max_epochs and not p.diverged and p.number not in branch]
    latest = usable[::-1][:LAST_KEPT]
    anchors = sorted(n for n in usable if n % ANCHOR_EVERY == 0 and n not in latest)
    kept = list(branch)
    for number in latest + anchors:
        if len(kept) >= MAX_KEPT:
            break
        kept.append(number)
    return set(kept)


# --- adapter -----------------------------------------------------------------------------------

def _grown(change) -> tuple[str, ...]:
    if change is None:
        return ()
    return tuple(s.knob for s in change.steps if s.direction == "up" and s.knob in GROWABLE)


def steps_from_outcomes(outcomes) -> list[Step]:
    """Adapter for engine.game.Outcome lists (duck-typed); revert/done outcomes become steps without an epoch."""
    steps = []
    depth = 0  # epoch number when an outcome carries none
    for outcome in outcomes:
        metrics = outcome.metrics
        if not trains_an_epoch(outcome.kind) or metrics is None:
            if outcome.kind == "revert":
                depth = max(0, depth - 1)
            steps.append(Step(outcome.kind, None))  # a revert's or Done's metrics are an older epoch's
            continue
        number = getattr(outcome, "epoch", None)
        depth = number if isinstance(number, int) and not isinstance(number, bool) else depth + 1
        point = EpochPoint(
            number=depth, train_loss=finite(metrics.train_loss), train_acc=finite(metrics.train_acc),
            val_loss=finite(metrics.val_loss), val_acc=finite(metrics.val_acc), diverged=bool(metrics.diverged),
            config=outcome.config, grown=_grown(getattr(outcome, "change", None)),
        )
        steps.append(Step(outcome.kind, point))
    return steps
