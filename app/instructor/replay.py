"""Replaying a run action by action: what the player saw when deciding, and what they chose."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.runs.models import ActionRecord, EpochRecord, Run
from app.runs.view import series_of
from engine.formatting import knob_value
from engine.actions import trains_an_epoch


def replay_steps(db: Session, run: Run) -> list[dict]:
    """One entry per action: the curves on screen before it, what was shown, the choice, and its result.

    The path is rebuilt by playing the actions forward (Continue pushes its epoch, Revert pops the
    last one), so each step shows exactly the curves the player had in front of them then.
    """
    actions = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run.id).order_by(ActionRecord.index)))
    epochs = {e.action_id: e for e in db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id))}
    path: list[EpochRecord] = []
    reverted: list[EpochRecord] = []
    steps = []
    previous_at = None
    for action in actions:
        result = epochs.get(action.id)
        steps.append({
            "index": action.index,
            "kind": action.kind,
            "choices": action.choices,
            "shown": action.shown,
            "at": action.created_at.isoformat(),
            "seconds_since_previous": None if previous_at is None else round((action.created_at - previous_at).total_seconds(), 1),
            # Decision time, without the training wait (app.runs.decision): "page" or "epoch_end" says from when.
            "decision_seconds": None if action.decision_seconds is None else round(action.decision_seconds, 1),
            "decision_from": action.decision_from,
            "choice_text": None,
            "series": series_of(list(path), list(reverted)),
            "result": None if result is None else {
                "epoch": result.number, "config": result.config, "train_acc": result.train_acc, "val_acc": result.val_acc,
                "train_loss": result.train_loss, "val_loss": result.val_loss, "diverged": result.diverged,
                "change": result.change,
            },
        })
        steps[-1]["choice_text"] = describe_choice(steps[-1])
        previous_at = action.created_at
        if trains_an_epoch(action.kind) and result is not None:
            path.append(result)
        elif action.kind == "revert" and path:
            reverted.append(path.pop())
    return steps


def describe_choice(step: dict) -> str:
    """A short human description of an action: "Continue (lr down, width up)", "Revert", "Done"."""
    if step["kind"] == "initial":
        c = step["choices"]
        return ("Start: " + ", ".join(f"{name} {knob_value(knob, c.get(knob))}" for knob, name in
                                      (("width", "width"), ("depth", "depth"), ("lr", "lr"), ("dropout", "dropout"))))
    if step["kind"] == "continue":
        moves = [f"{knob} {direction}" for knob, direction in step["choices"].items() if direction != "same"]
        return "Continue" + (f" ({', '.join(moves)})" if moves else "")
    return step["kind"].capitalize()
