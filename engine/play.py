"""The rules of play as pure transitions of a run's counters: the one owner of what an action does to a run.

``engine.game.Game`` (a run in memory) and ``app.runs.service`` (a run in the database) both
load their counters into a :class:`RunCounters`, call these functions, and store the result;
neither writes a rule of its own. Training itself (engine.session) and checkpoints stay with
the caller: a transition only says what the counters become and whether a checkpoint is the
new best, so it runs without torch and without storage.
"""

from __future__ import annotations

import dataclasses

from engine import rules
from engine.actions import Action

#: Checkpoints Revert can still reach: the current one and the MAX_CONSECUTIVE_REVERTS before it.
REVERT_WINDOW = rules.MAX_CONSECUTIVE_REVERTS + 1
PLAYER_DONE = "finished by the player"


@dataclasses.dataclass(frozen=True)
class RunCounters:
    """Where a run stands: what the rules look at and what the score is."""

    actions: int = 0
    epoch: int = 0
    consecutive_reverts: int = 0
    best_val_acc: float | None = None
    ended: bool = False
    end_reason: str | None = None

    @property
    def progress(self) -> rules.Progress:
        """The counters engine.rules checks."""
        return rules.Progress(self.actions, self.epoch, self.consecutive_reverts, self.ended)


def take(counters: RunCounters, action: Action) -> RunCounters:
    """An action submitted: checked against the rules (RuleViolation) and counted.

    Its effect follows: ``after_epoch`` once a Continue's epoch is trained, ``after_revert``
    for a Revert, ``finish`` for Done.
    """
    rules.check(counters.progress, action)
    return dataclasses.replace(counters, actions=counters.actions + 1)


def start(counters: RunCounters) -> RunCounters:
    """The initial configuration submitted: action 1, which trains epoch 1."""
    if counters.actions:
        raise RuntimeError("the run has already started")
    return dataclasses.replace(counters, actions=1)


def is_new_best(counters: RunCounters, val_acc: float, diverged: bool) -> bool:
    """Whether an epoch with this validation accuracy becomes the run's best (a diverged one never does)."""
    return not diverged and (counters.best_val_acc is None or val_acc > counters.best_val_acc)


def after_epoch(counters: RunCounters, epoch: int, val_acc: float, diverged: bool) -> RunCounters:
    """A trained epoch (numbered ``epoch`` on the path): reverts in a row reset, the best kept, limits checked."""
    best = val_acc if is_new_best(counters, val_acc, diverged) else counters.best_val_acc
    return end_by_limits(dataclasses.replace(counters, epoch=epoch, consecutive_reverts=0, best_val_acc=best))


def after_revert(counters: RunCounters, back_to_epoch: int) -> RunCounters:
    """A Revert: back to the path's previous epoch (0 = before the first), one more revert in a row, limits checked."""
    return end_by_limits(dataclasses.replace(counters, epoch=back_to_epoch,
                                             consecutive_reverts=counters.consecutive_reverts + 1))


def finish(counters: RunCounters, reason: str = PLAYER_DONE) -> RunCounters:
    """The run ends (Done, a limit, or a failure the caller names)."""
    return dataclasses.replace(counters, ended=True, end_reason=reason)


def end_by_limits(counters: RunCounters) -> RunCounters:
    """The run ended if it reached a limit (actions or epochs); unchanged otherwise."""
    if counters.ended:
        return counters
    reason = rules.end_reason(counters.progress)
    return finish(counters, reason) if reason else counters


def reachable(path_length: int) -> int:
    """How many of a path's latest checkpoints Revert can still reach (the window), for a path of that length."""
    return min(path_length, REVERT_WINDOW)
