"""What the training and result pages show, computed from the database rows."""

from __future__ import annotations

from app.datasets.models import DatasetRecord
from app.runs.models import EpochRecord, Run
from engine import rules
from engine.config import DISPLAY_ORDER, HyperParams
from engine.formatting import config_text, knob_value
from engine.ladders import KNOB_LABELS, all_steps

#: Knob order on every page (configure, training, history): engine.config.DISPLAY_ORDER.
KNOB_ORDER = DISPLAY_ORDER
PAGE_LABELS = {
    "weight_decay": "Weight decay",
    "depth": "CNN Network depth",
    "dropout": "Dropout",
    "lr": "Learning rate",
    "width": "CNN Network width",
}
MLP_LABELS = {"depth": "MLP Network depth", "width": "MLP Network width"}


def knob_text(knob: str, value: float | int) -> str:
    """A knob value as every page shows it (engine.formatting.knob_value)."""
    return knob_value(knob, value)


def dataset_stats(dataset: DatasetRecord) -> dict:
    """The "Dataset Statistics" box."""
    return {
        "classes": dataset.num_classes,
        "input_size": list(dataset.input_shape),
        "train": dataset.train_examples,
        "val": dataset.val_examples,
        "is_image": len(dataset.input_shape) == 3,
    }


#: Configuration History's parts, in KNOB_ORDER.
HISTORY_PARTS = (("width", "Width"), ("depth", "Depth"), ("lr", "Learning rate"), ("dropout", "Dropout"),
                 ("weight_decay", "Weight decay"))
#: Why Up/Down are off for a knob a scenario link fixes (app.scenarios).
FIXED_REASON = "fixed in this scenario"


def config_line(config: dict, hidden: tuple[str, ...] | list[str] = ()) -> str:
    """One Configuration History line (without the knobs a scenario hides)."""
    return config_text(config, tuple(k for k, _ in HISTORY_PARTS), dict(HISTORY_PARTS), hidden)


def knob_rows(run: Run, dataset: DatasetRecord, scenario: dict | None = None) -> list[dict]:
    """Same/Up/Down for each knob with the next value, or why a step is impossible.

    ``scenario``: app.scenarios.rules.view of the run; its hidden knobs are left out and its
    locked ones offer only Same.
    """
    hparams = HyperParams.from_dict(run.config)
    steps = all_steps(hparams)
    labels = dict(PAGE_LABELS)
    if len(dataset.input_shape) != 3:
        labels.update(MLP_LABELS)
    hidden = set(scenario["hidden"]) if scenario else set()
    locked = set(scenario["locked"]) if scenario else set()
    rows = []
    for knob in KNOB_ORDER:
        if knob in hidden:
            continue
        options = []
        for direction in ("same", "up", "down"):
            step = steps[knob][direction]
            if knob in locked and direction != "same":
                options.append({"direction": direction, "possible": False, "next": None, "reason": FIXED_REASON})
                continue
            options.append(
                {
                    "direction": direction,
                    "possible": step.possible,
                    "next": knob_text(knob, step.value) if step.possible else None,
                    "reason": step.reason,
                }
            )
        rows.append(
            {
                "knob": knob,
                "label": labels[knob],
                "name": KNOB_LABELS[knob],
                "current": knob_text(knob, getattr(hparams, knob)),
                "options": options,
                "structural": knob in ("width", "depth"),
                "fixed": knob in locked,
            }
        )
    return rows


def history_rows(path: list[EpochRecord], hidden: tuple[str, ...] | list[str] = ()) -> list[dict]:
    """Configuration History, newest first, with width/depth changes' before/after figures."""
    rows = []
    for epoch in reversed(path):
        rows.append(
            {
                "number": epoch.number,
                "config": config_line(epoch.config, hidden),
                "train_acc": epoch.train_acc,
                "val_acc": epoch.val_acc,
                "val_loss": epoch.val_loss,
                "diverged": epoch.diverged,
                "change": epoch.change,
            }
        )
    return rows


def chart_series(epochs: list[EpochRecord]) -> dict:
    """Per-epoch curves of the current path plus markers for reverted epochs and width/depth changes."""
    return series_of([e for e in epochs if not e.reverted], [e for e in epochs if e.reverted])


def series_of(path: list[EpochRecord], reverted: list[EpochRecord]) -> dict:
    """The charts' data for a path of epochs and the epochs reverted off it."""
    return {
        "epochs": [e.number for e in path],
        "train_loss": [e.train_loss for e in path],
        "val_loss": [e.val_loss for e in path],
        "train_acc": [e.train_acc for e in path],
        "val_acc": [e.val_acc for e in path],
        "changes": [
            {"epoch": e.number, "label": ", ".join(f"{s['knob']} {s['direction']}" for s in e.change["steps"])}
            for e in path
            if e.change
        ],
        "reverted": [{"epoch": e.number, "val_acc": e.val_acc, "val_loss": e.val_loss} for e in reverted],
    }


def announcement(path: list[EpochRecord], run: Run) -> str | None:
    """What the polite live region says once an epoch is in: the numbers of the epoch the network is now at."""
    if not path:
        return None
    last = path[-1]

    def number(value: float | None, digits: int = 3) -> str:
        return "not a number (diverged)" if value is None else f"{value:.{digits}f}"

    text = (f"Epoch {last.number}: training accuracy {number(last.train_acc)}, validation accuracy {number(last.val_acc)}, "
            f"training loss {number(last.train_loss)}, validation loss {number(last.val_loss)}.")
    if last.diverged:
        text += " The epoch diverged."
    if run.best_val_acc is not None:
        text += f" Best validation accuracy so far {run.best_val_acc:.3f}."
    return text


def best_epoch(run: Run, epochs: list[EpochRecord]) -> EpochRecord | None:
    """The epoch the run's score comes from: the one whose checkpoint is the best (reverted or not).

    The score is the best validation accuracy of any epoch trained, as in the original game: an
    epoch taken back by Revert still counts, and its network is the one the hidden test split scores.
    """
    if run.best_checkpoint_id is not None:
        for epoch in epochs:
            if epoch.checkpoint_id == run.best_checkpoint_id:
                return epoch
    scored = [e for e in epochs if not e.diverged and run.best_val_acc is not None and e.val_acc == run.best_val_acc]
    return scored[0] if scored else None


def training_view(run: Run, dataset: DatasetRecord, epochs: list[EpochRecord], scenario: dict | None = None) -> dict:
    """Everything screen 5 shows; ``scenario`` (app.scenarios.rules.view) fixes or hides knobs."""
    path = [e for e in epochs if not e.reverted]
    progress = rules.Progress(run.actions_used, run.epoch, run.consecutive_reverts)
    revert_reason = rules.revert_block_reason(progress)
    return {
        "action_number": run.actions_used,
        "max_actions": rules.MAX_ACTIONS,
        "epoch": run.epoch,
        # Every epoch trained, reverted ones included (the rule limit counts only run.epoch, the current path).
        "epochs_trained": len(epochs),
        "max_epochs": rules.MAX_EPOCHS,
        "max_reverts": rules.MAX_CONSECUTIVE_REVERTS,
        "expected_action": run.actions_used + 1,
        "busy": run.busy,
        "progress_done": run.progress_done,
        "progress_total": run.progress_total,
        "knobs": knob_rows(run, dataset, scenario),
        "history": history_rows(path, scenario["hidden"] if scenario else ()),
        "series": chart_series(epochs),
        "announcement": announcement(path, run),
        "scenario": scenario,
        "best_train_acc": max((e.train_acc for e in epochs if not e.diverged), default=None),
        "best_val_acc": run.best_val_acc,
        "best_epoch": best_epoch(run, epochs),
        "baseline": dataset.baseline_default,
        "baseline_status": dataset.baseline_status,
        "revert_allowed": revert_reason is None,
        "revert_reason": revert_reason,
        "last_diverged": bool(path and path[-1].diverged),
        "error": run.error,
    }
