"""A class's decisions after the fact: what each player saw, what they changed, what followed; common mistakes;
which habits went with higher scores.

Pure Python like engine.debrief and engine.alerts: the web app feeds steps read from the database,
the tests constructed ones.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

from engine import alerts, debrief
from engine.actions import CONTINUE, DONE, REVERT, trains_an_epoch
from engine.debrief import EpochPoint, Step

#: Epochs after a decision over which its outcome is read (the issue's "next 3 epochs").
OUTCOME_EPOCHS = 3
#: Fewer runs than this and a correlation is not worth reading (said on the page).
MIN_RUNS_FOR_IMPORTANCE = 10

# Mistake kinds, with the words the analysis page uses.
LR_UP_WHILE_VAL_LOSS_RISES = "lr_up_val_loss_rising"
NO_REVERT_AFTER_DIVERGED = "no_revert_after_diverged"
STOPPED_WHILE_IMPROVING = "stopped_while_improving"
IGNORED_OVERFITTING = "ignored_overfitting"
MISTAKES = {
    LR_UP_WHILE_VAL_LOSS_RISES: "Raised the learning rate while validation loss was rising",
    NO_REVERT_AFTER_DIVERGED: "Did not revert after a diverged epoch",
    STOPPED_WHILE_IMPROVING: "Stopped while validation accuracy was still improving",
    IGNORED_OVERFITTING: "Continued unchanged while overfitting (validation down 2+ epochs, training up)",
}


@dataclasses.dataclass(frozen=True)
class Decision:
    """One action: the state on screen, the change, and validation accuracy over the next epochs."""

    number: int            # the action's number in the run (1 = the initial configuration)
    kind: str
    change: dict           # {knob: "up"|"down"} for Continue; {} otherwise (the initial configuration: its values)
    epoch: int             # epochs on the path when deciding
    val_acc: float | None  # last path epoch's, when deciding
    train_acc: float | None
    val_loss: float | None
    lr: float | None
    best: float | None     # best validation accuracy so far
    diverged: bool         # the last path epoch diverged
    next_val: tuple        # validation accuracy of the next OUTCOME_EPOCHS epochs trained (fewer at the end)
    mistakes: tuple[str, ...]

    @property
    def delta(self) -> float | None:
        """Validation accuracy of the last of the next epochs minus the one on screen (None without both)."""
        after = [v for v in self.next_val if v is not None]
        if not after or self.val_acc is None:
            return None
        return after[-1] - self.val_acc

    def change_text(self) -> str:
        """The change as words: "lr down, width up", "revert", "done", "no change"."""
        if self.kind == CONTINUE:
            return ", ".join(f"{k} {d}" for k, d in sorted(self.change.items())) or "no change"
        return self.kind


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def decisions(steps: Sequence[Step], choices: Sequence[dict]) -> list[Decision]:
    """One Decision per step; ``choices[i]`` is step i's stored choices (knob moves for Continue)."""
    path: list[EpochPoint] = []
    trained_after: list[list[float | None]] = [[] for _ in steps]
    # Validation accuracy of every epoch trained after each step, in training order.
    trained = [(i, s.epoch) for i, s in enumerate(steps) if trains_an_epoch(s.kind) and s.epoch is not None]
    out = []
    best = None
    for i, step in enumerate(steps):
        last = path[-1] if path else None
        following = [e for j, e in trained if j >= i][:OUTCOME_EPOCHS] if step.kind != DONE else []
        trained_after[i] = [None if e.diverged else _finite(e.val_acc) for e in following]
        change = dict(choices[i] or {}) if i < len(choices) else {}
        if step.kind == CONTINUE:
            change = {k: v for k, v in change.items() if v in ("up", "down")}
        out.append(Decision(
            number=i + 1, kind=step.kind, change=change if step.kind == CONTINUE else {},
            epoch=len(path), val_acc=None if last is None or last.diverged else _finite(last.val_acc),
            train_acc=None if last is None else _finite(last.train_acc),
            val_loss=None if last is None else _finite(last.val_loss),
            lr=None if last is None else last.config.lr, best=best, diverged=bool(last and debrief._broken(last)),
            next_val=tuple(trained_after[i]), mistakes=tuple(_mistakes(step, change, path)),
        ))
        if trains_an_epoch(step.kind) and step.epoch is not None:
            path.append(step.epoch)
            if not step.epoch.diverged and step.epoch.val_acc is not None and (best is None or step.epoch.val_acc > best):
                best = step.epoch.val_acc
        elif step.kind == REVERT and path:
            path.pop()
    return out


def _mistakes(step: Step, change: dict, path: list[EpochPoint]) -> list[str]:
    """The common mistakes this action makes, judged on the state the player saw."""
    found = []
    if not path:
        return found
    last = path[-1]
    broken = debrief._broken(last)
    if step.kind == CONTINUE and broken:
        found.append(NO_REVERT_AFTER_DIVERGED)
    if (step.kind == CONTINUE and change.get("lr") == "up" and len(path) >= 2 and not broken
            and not debrief._broken(path[-2]) and last.val_loss > path[-2].val_loss):
        found.append(LR_UP_WHILE_VAL_LOSS_RISES)
    if step.kind == CONTINUE and not change and alerts.overfit_window(path) is not None:
        found.append(IGNORED_OVERFITTING)
    if step.kind == DONE and _still_improving(path):
        found.append(STOPPED_WHILE_IMPROVING)
    return found


def _still_improving(path: list[EpochPoint]) -> bool:
    """Validation accuracy rose clearly over the last epochs and the last one is the best (engine.debrief's test)."""
    n = debrief.STILL_RISING_EPOCHS
    if len(path) <= n or any(debrief._broken(p) for p in path[-n - 1:]):
        return False
    gain = path[-1].val_acc - path[-n - 1].val_acc
    return gain >= debrief.STILL_RISING_GAIN - 1e-9 and path[-1].val_acc >= max(p.val_acc for p in path if not p.diverged)


# --- importance --------------------------------------------------------------------------------

#: Habits measured per run, with the words the analysis page uses.
HABITS = {
    "lowered_lr": "Lowered the learning rate (times)",
    "raised_lr": "Raised the learning rate (times)",
    "grew": "Grew width or depth (times)",
    "raised_dropout": "Raised dropout or weight decay (times)",
    "reverts": "Reverts",
    "epochs": "Epochs trained",
    "mistakes": "Common mistakes made",
}


def habits(run_decisions: Sequence[Decision]) -> dict[str, float]:
    """A run's habits (HABITS keys) counted from its decisions."""
    count = {k: 0.0 for k in HABITS}
    for d in run_decisions:
        if d.kind == CONTINUE:
            count["lowered_lr"] += d.change.get("lr") == "down"
            count["raised_lr"] += d.change.get("lr") == "up"
            count["grew"] += any(d.change.get(k) == "up" for k in ("width", "depth"))
            count["raised_dropout"] += any(d.change.get(k) == "up" for k in ("dropout", "weight_decay"))
        count["reverts"] += d.kind == REVERT
        count["epochs"] += trains_an_epoch(d.kind)
        count["mistakes"] += len(d.mistakes)
    return count


def ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on ranks); None when either side is constant or n < 3."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def importance(per_run: Sequence[tuple[dict[str, float], float]]) -> list[dict]:
    """Per habit: Spearman's rho against the final normalised score over finished runs, n, and whether it is too thin."""
    rows = []
    for key, label in HABITS.items():
        xs = [h[key] for h, _ in per_run]
        ys = [score for _, score in per_run]
        rho = spearman(xs, ys)
        used = sum(1 for x in xs if x)
        thin = len(xs) < MIN_RUNS_FOR_IMPORTANCE or rho is None or used < 3
        rows.append({"habit": key, "label": label, "rho": rho, "runs": len(xs), "runs_with_it": used, "thin": thin})
    rows.sort(key=lambda r: (r["thin"], -(abs(r["rho"]) if r["rho"] is not None else 0)))
    return rows
