"""Live alerts for the instructor: a run's own history says a player is stuck, walked step by step.

Pure Python like engine.debrief (whose Step and EpochPoint it reads): the web app builds the steps
from database rows as epochs arrive, the tests from constructed histories. The history is replayed
action by action and each condition is checked on the state after every action, so an alert is
raised by the action (and epoch) that made it true, keeps growing while it stays true, and is
"open" while it is still true after the last action.

Thresholds sit above the epoch-to-epoch noise of a validation accuracy measured on ~1,500 examples
(one standard deviation is about 0.013), as in engine.debrief.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from engine.actions import REVERT, trains_an_epoch
from engine.debrief import EpochPoint, Step
from engine.formatting import knob_value

# Alert kinds, most urgent first (the order the live page lists a run's open alerts in).
DIVERGED, OVERFITTING, IDLE, REVERTS, LR_STUCK = "diverged", "overfitting", "idle", "reverts", "lr_stuck"
KINDS = (DIVERGED, OVERFITTING, IDLE, REVERTS, LR_STUCK)
LABELS = {DIVERGED: "Loss diverged", OVERFITTING: "Overfitting, not reacted to", IDLE: "No action",
          REVERTS: "Reverts in a row", LR_STUCK: "Loss plateau, learning rate unchanged"}

#: A finite training loss this many times the path's lowest so far, and above the first epoch's, has blown up.
LOSS_BLOWUP_FACTOR = 2.0
#: Epochs in a row that validation accuracy must fall (while training accuracy rises) for overfitting.
OVERFIT_FALLS = 2
#: Total fall of validation accuracy over those epochs: ~2 standard deviations of the noise of a difference of two epochs.
OVERFIT_MIN_DROP = 0.03
#: Total rise of training accuracy over the same epochs.
OVERFIT_MIN_TRAIN_RISE = 0.01
#: Reverts in a row that say the player is going round in circles.
REVERTS_IN_A_ROW = 3
#: Epochs at one learning rate over which the training loss must have plateaued.
PLATEAU_EPOCHS = 5
#: Relative fall of the training loss over those epochs below which it "plateaued".
PLATEAU_MAX_FALL = 0.02
#: A network with training accuracy at or above this has learned: a flat loss is then fine-tuning (engine.debrief).
PLATEAU_MAX_TRAIN_ACC = 0.9
#: Minutes without an action while the run waits for its player (the live page's default).
IDLE_MINUTES = 3.0

_EPS = 1e-9


@dataclasses.dataclass
class Alert:
    """One alert on a run: what, which epochs, the numbers behind it, and whether it still holds."""

    kind: str
    epochs: tuple[int, ...]
    text: str
    figures: dict
    #: Index (0-based) of the step that first made it true; None for the idle alert (time made it true).
    step: int | None
    open: bool = True

    @property
    def label(self) -> str:
        """The alert's short title."""
        return LABELS[self.kind]

    def as_dict(self) -> dict:
        """JSON-ready dict."""
        return {"kind": self.kind, "label": self.label, "epochs": list(self.epochs), "text": self.text,
                "figures": dict(self.figures), "step": self.step, "open": self.open}


def _broken(p: EpochPoint) -> bool:
    return p.diverged or p.train_loss is None or p.val_loss is None or not math.isfinite(p.train_loss)


def _loss(value: float | None) -> str:
    return "not a number" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _diverged(point: EpochPoint, path: Sequence[EpochPoint]) -> dict | None:
    """Figures of a diverged epoch (flagged, a non-finite loss, or a loss that blew up), else None."""
    if _broken(point):
        return {"train_loss": point.train_loss, "val_loss": point.val_loss, "lr": point.config.lr}
    finite = [p.train_loss for p in path if not _broken(p)]
    if len(finite) >= 2 and point.train_loss is not None:
        lowest, first = min(finite[:-1]), finite[0]
        if point.train_loss > LOSS_BLOWUP_FACTOR * lowest + _EPS and point.train_loss > first + _EPS:
            return {"train_loss": point.train_loss, "lowest_before": lowest, "lr": point.config.lr}
    return None


def _same_settings(a: EpochPoint, b: EpochPoint) -> bool:
    """No knob moved between the two epochs (so the player did not react)."""
    return a.config.as_dict() == b.config.as_dict()


def overfit_window(path: Sequence[EpochPoint]) -> list[EpochPoint] | None:
    """The path's tail where validation accuracy fell every epoch while training accuracy rose, knobs untouched."""
    window = [path[-1]] if path else []
    for p in reversed(path[:-1]):
        nxt = window[0]
        if _broken(p) or _broken(nxt) or not _same_settings(p, nxt):
            break
        if not (nxt.val_acc < p.val_acc - _EPS and nxt.train_acc > p.train_acc + _EPS):
            break
        window.insert(0, p)
    falls = len(window) - 1
    if falls < OVERFIT_FALLS:
        return None
    drop = window[0].val_acc - window[-1].val_acc
    rise = window[-1].train_acc - window[0].train_acc
    if drop + _EPS < OVERFIT_MIN_DROP or rise + _EPS < OVERFIT_MIN_TRAIN_RISE:
        return None
    return window


def _plateau_window(path: Sequence[EpochPoint]) -> list[EpochPoint] | None:
    """The last PLATEAU_EPOCHS+ path epochs at one learning rate whose training loss barely fell."""
    if len(path) < PLATEAU_EPOCHS:
        return None
    window = []
    for p in reversed(path):
        if _broken(p) or (window and not math.isclose(p.config.lr, window[0].config.lr, rel_tol=1e-9)):
            break
        window.insert(0, p)
    if len(window) < PLATEAU_EPOCHS or window[-1].train_acc >= PLATEAU_MAX_TRAIN_ACC:
        return None
    # The plateau is the longest tail whose loss barely fell from its first epoch.
    for start in range(len(window) - PLATEAU_EPOCHS + 1):
        tail = window[start:]
        first = tail[0].train_loss
        fall = (first - min(p.train_loss for p in tail)) / max(abs(first), _EPS)
        if fall < PLATEAU_MAX_FALL:
            return tail
    return None


class _Tracker:
    """Raises an alert when its condition becomes true and grows it while the condition holds."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._active: dict[str, Alert] = {}

    def hold(self, kind: str, key, step: int, build) -> None:
        """The condition ``kind`` holds after ``step``; ``key`` says whether it is the same occurrence."""
        current = self._active.get(kind)
        epochs, text, figures = build()
        if current is not None and current.figures.get("_key") == key:
            current.epochs, current.text = epochs, text
            current.figures.update(figures)
            return
        if current is not None:
            current.open = False  # a new occurrence (another diverged epoch, a new streak) supersedes it
        alert = Alert(kind, epochs, text, {**figures, "_key": key}, step)
        self.alerts.append(alert)
        self._active[kind] = alert

    def release(self, kind: str) -> None:
        """The condition ``kind`` no longer holds."""
        alert = self._active.pop(kind, None)
        if alert is not None:
            alert.open = False


def run_alerts(steps: Sequence[Step], waiting_seconds: float | None = None,
               idle_minutes: float = IDLE_MINUTES) -> list[Alert]:
    """Every alert of a run, oldest first; ``waiting_seconds``: how long the run has waited for its
    player (None when it does not: training, or over), for the idle alert."""
    tracker = _Tracker()
    path: list[EpochPoint] = []
    reverts: list[int] = []
    for i, step in enumerate(steps):
        epoch = step.epoch
        if trains_an_epoch(step.kind) and epoch is not None:
            path.append(epoch)
            reverts = []
            figures = _diverged(epoch, path)
            if figures is not None:
                text = (f"Epoch {epoch.number} diverged: training loss {_loss(figures['train_loss'])} "
                        + (f"(lowest before {figures['lowest_before']:.3f}) " if "lowest_before" in figures else "")
                        + f"at learning rate {knob_value('lr', epoch.config.lr)}.")
                tracker.hold(DIVERGED, (i, epoch.number), i, lambda e=epoch, t=text, f=figures: ((e.number,), t, f))
            else:
                tracker.release(DIVERGED)
        elif step.kind == REVERT:
            if path:
                reverts.append(path.pop().number)
            tracker.release(DIVERGED)  # reverting a diverged epoch is the reaction the alert asks for
        else:
            reverts = []
        _check_overfitting(tracker, path, i)
        _check_plateau(tracker, path, i)
        if len(reverts) >= REVERTS_IN_A_ROW:
            n, undone = len(reverts), tuple(reverts)
            tracker.hold(REVERTS, i - n + 1, i, lambda n=n, u=undone: (
                u, f"{n} reverts in a row (epochs {', '.join(map(str, u))} undone): the player may be going round in circles.",
                {"reverts": n}))
        else:
            tracker.release(REVERTS)
    alerts = tracker.alerts
    if waiting_seconds is not None and waiting_seconds > idle_minutes * 60:
        last = path[-1].number if path else 0
        minutes = waiting_seconds / 60
        alerts.append(Alert(IDLE, (last,) if last else (), f"No action for {minutes:.0f} min since epoch {last}, mid-run.",
                            {"minutes": round(minutes, 1)}, None))
    for alert in alerts:
        alert.figures.pop("_key", None)
    return alerts


def _check_overfitting(tracker: _Tracker, path: list[EpochPoint], i: int) -> None:
    window = overfit_window(path)
    if window is None:
        tracker.release(OVERFITTING)
        return
    first, last = window[0], window[-1]
    tracker.hold(OVERFITTING, first.number, i, lambda: (
        tuple(p.number for p in window),
        f"Validation accuracy fell {first.val_acc:.2f} → {last.val_acc:.2f} over epochs {first.number}–{last.number} "
        f"while training accuracy rose {first.train_acc:.2f} → {last.train_acc:.2f}, with no knob moved.",
        {"val_from": first.val_acc, "val_to": last.val_acc, "train_from": first.train_acc, "train_to": last.train_acc}))


def _check_plateau(tracker: _Tracker, path: list[EpochPoint], i: int) -> None:
    window = _plateau_window(path)
    if window is None:
        tracker.release(LR_STUCK)
        return
    first, last = window[0], window[-1]
    tracker.hold(LR_STUCK, first.number, i, lambda: (
        tuple(p.number for p in window),
        f"Training loss {first.train_loss:.3f} → {last.train_loss:.3f} over epochs {first.number}–{last.number} "
        f"({len(window)} epochs) at learning rate {knob_value('lr', last.config.lr)}, which has not moved.",
        {"loss_from": first.train_loss, "loss_to": last.train_loss, "lr": last.config.lr, "epochs": len(window)}))


def open_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts that still hold, most urgent kind first, newest first within a kind."""
    still = [a for a in alerts if a.open]
    return sorted(still, key=lambda a: (KINDS.index(a.kind), -(a.step if a.step is not None else 10**6)))
