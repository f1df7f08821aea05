"""The experimental conditions: what each arm shows a player after an epoch.

A hint is a pure function of the run as stored (its actions and epochs): the training page shows
it, and the submit that follows recomputes it to record what was shown, so both must agree.
"""

from __future__ import annotations


from sqlalchemy import select
from sqlalchemy.orm import Session

from app.runs.models import READY, ActionRecord, EpochRecord, Run
from engine.formatting import knob_value
from engine.numbers import finite
from engine.actions import DONE, trains_an_epoch

CONTROL, TIP, SUGGESTION = "control", "tip", "suggestion"

#: Arm name -> what the researcher picks from, and what the arm shows the player.
CONDITIONS = {
    CONTROL: {"label": "No hint", "description": "The training page as usual, with nothing added."},
    TIP: {"label": "Course-notes tip", "description": "After each epoch, one line from the course notes that fits the run's curves."},
    SUGGESTION: {"label": "Automatic player's move", "description": "After each epoch, the move the automatic player would make next, as a suggestion."},
}

#: One line per situation, from the CS231n notes ("Babysitting the learning process", "Learning
#: decay", "high variance"); the key is the info text (app.runs.info.INFO) it points to.
TIPS = {
    "divergence": "If the loss becomes NaN, the network exploded and the learning rate is too high: "
    "revert to the last good epoch and lower the learning rate.",
    "overfitting": "Training accuracy rises while validation falls: a growing gap is high variance, "
    "and regularization (weight decay, dropout) or stopping at the best epoch fights it.",
    "underfitting": "If the loss is barely changing, the learning rate may be too small; a network that "
    "cannot fit even the training data needs more capacity.",
    "plateau": "When validation stops improving, decay the learning rate: ResNet divided it by 10 "
    "whenever the validation error plateaued.",
    "lr": "Babysit the learning process: watch training and validation accuracy after every epoch, "
    "and get the learning rate right before anything else.",
}

#: Thresholds of the tip rules (absolute accuracy / relative loss change).
VAL_FALL = 0.005
UNDERFIT_ACC = 0.6
FLAT_ACC = 0.02
PLATEAU_EPOCHS = 3
PLATEAU_LOSS = 0.02

KNOB_WORDS = {"lr": "learning rate", "weight_decay": "weight decay", "dropout": "dropout",
              "width": "network width", "depth": "network depth"}


def _history(db: Session, run: Run) -> list[tuple[ActionRecord, list[EpochRecord]]]:
    """Each done action in order, with the run's current path (not reverted epochs) right after it."""
    actions = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == run.id).order_by(ActionRecord.index)))
    epochs = {e.action_id: e for e in db.scalars(select(EpochRecord).where(EpochRecord.run_id == run.id))}
    path: list[EpochRecord] = []
    steps = []
    for action in actions:
        if trains_an_epoch(action.kind):
            epoch = epochs.get(action.id)
            if epoch is None:
                continue  # an epoch that never trained changed nothing the player saw
            path.append(epoch)
        elif action.kind == "revert" and path:
            path.pop()
        steps.append((action, list(path)))
    return steps


def _tip(path: list[EpochRecord]) -> dict:
    """The tip for a run whose current path is ``path`` (at least one epoch)."""
    last = path[-1]
    prev = path[-2] if len(path) > 1 else None
    if last.diverged or finite(last.train_loss) is None or finite(last.val_loss) is None:
        concept = "divergence"
    elif prev is not None and last.val_acc < prev.val_acc - VAL_FALL and last.train_acc > prev.train_acc:
        concept = "overfitting"
    elif prev is not None and last.train_acc < UNDERFIT_ACC and abs(last.train_acc - prev.train_acc) < FLAT_ACC:
        concept = "underfitting"
    elif len(path) > PLATEAU_EPOCHS and _plateaued(path):
        concept = "plateau"
    else:
        concept = "lr"
    return {"kind": TIP, "text": TIPS[concept], "concept": concept}


def _plateaued(path: list[EpochRecord]) -> bool:
    """No new best validation accuracy in the last epochs, or a training loss that barely moves."""
    recent, earlier = path[-PLATEAU_EPOCHS:], path[:-PLATEAU_EPOCHS]
    no_new_best = max(e.val_acc for e in recent) <= max(e.val_acc for e in earlier)
    losses = [finite(e.train_loss) for e in recent]
    flat = all(v is not None for v in losses) and losses[0] > 0 and abs(losses[-1] - losses[0]) / losses[0] < PLATEAU_LOSS
    return no_new_best or flat


def _observations(run: Run, steps: list[tuple[ActionRecord, list[EpochRecord]]]) -> list:
    """engine.bots.Observation after every action, as app.bots.player.observe built them live."""
    from engine.bots import Observation  # the engine's bot module, imported where hints are asked for
    from engine.config import HyperParams

    history, reverts, best = [], 0, None
    for action, path in steps:
        reverts = reverts + 1 if action.kind == "revert" else 0
        last = path[-1] if path else None
        for e in path:
            if not e.diverged and finite(e.val_acc) is not None and (best is None or e.val_acc > best):
                best = e.val_acc
        history.append(Observation(
            action=action.index, epoch=last.number if last else 0,
            config=HyperParams.from_dict(dict(last.config) if last else dict(run.initial_config)),
            train_loss=finite(last.train_loss) if last else None, train_acc=finite(last.train_acc) if last else None,
            val_loss=finite(last.val_loss) if last else None, val_acc=finite(last.val_acc) if last else None,
            diverged=bool(last.diverged) if last else False, best_val_acc=best, consecutive_reverts=reverts,
            kind=action.kind,
        ))
    if history:
        # The run's own counters are the truth the rules check; the replay only rebuilds the metrics.
        last = history[-1]
        history[-1] = Observation(
            action=run.actions_used, epoch=run.epoch, config=HyperParams.from_dict(dict(run.config)),
            train_loss=last.train_loss, train_acc=last.train_acc, val_loss=last.val_loss, val_acc=last.val_acc,
            diverged=last.diverged, best_val_acc=finite(run.best_val_acc), consecutive_reverts=run.consecutive_reverts,
            kind=last.kind,
        )
    return history


def describe_move(action, config) -> str:
    """A bot move in a player's words, e.g. "Continue with the learning rate one step down (0.1 → 0.01)"."""
    from engine.ladders import apply_changes

    if action.kind == "revert":
        return "Revert the last epoch (go back to the checkpoint before it)"
    if action.kind == DONE:
        return "Press Done training (further epochs are unlikely to help)"
    if not action.changes:
        return "Continue with the same settings"
    after = apply_changes(config, action.change_map)
    parts = [f"the {KNOB_WORDS.get(knob, knob)} one step {direction} ({knob_value(knob, getattr(config, knob))} → {knob_value(knob, getattr(after, knob))})"
             for knob, direction in action.changes]
    return "Continue with " + " and ".join(parts)


def _suggestion(run: Run, steps) -> dict | None:
    from engine.bots import RuleBasedBot

    history = _observations(run, steps)
    if not history:
        return None
    move = RuleBasedBot().decide(history)
    text = f"The automatic player would now: {describe_move(move, history[-1].config)}."
    return {"kind": SUGGESTION, "text": text, "action": {"kind": move.kind, "changes": move.change_map}}


def hint_for(db: Session, run: Run, condition: str | None) -> dict | None:
    """The hint ``condition`` shows on the run's training page now: {"kind", "text"}, or None."""
    if condition not in (TIP, SUGGESTION) or run.status != READY:
        return None  # no study arm with a hint, or no decision to make now (ended, or an epoch training)
    steps = _history(db, run)
    if not any(trains_an_epoch(action.kind) for action, _ in steps):
        return None  # before the first epoch: nothing to react to
    if condition == TIP:
        path = steps[-1][1] if steps else []
        # Reverted back to before the first epoch: nothing on the path to read, so the general tip.
        return _tip(path) if path else {"kind": TIP, "text": TIPS["lr"], "concept": "lr"}
    return _suggestion(run, steps)
