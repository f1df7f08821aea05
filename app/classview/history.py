"""Runs' histories read in bulk: actions with the epochs they trained, as engine Steps, for many runs at once."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.debrief.retention import epoch_point
from app.runs.models import ActionRecord, EpochRecord
from engine import debrief
from engine.actions import trains_an_epoch

#: Runs per IN (...) query: well under every database's parameter limit.
CHUNK = 500


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def actions_and_epochs(db: Session, run_ids: Iterable[int]) -> dict[int, list[tuple[ActionRecord, EpochRecord | None]]]:
    """Per run, its actions in order, each with the epoch it trained (None for Revert, Done or not trained yet)."""
    ids = sorted(set(run_ids))
    out: dict[int, list] = defaultdict(list)
    for chunk in _chunks(ids):
        epochs = {e.action_id: e for e in db.scalars(select(EpochRecord).where(EpochRecord.run_id.in_(chunk)))}
        for action in db.scalars(select(ActionRecord).where(ActionRecord.run_id.in_(chunk))
                                 .order_by(ActionRecord.run_id, ActionRecord.index)):
            out[action.run_id].append((action, epochs.get(action.id)))
    return out


def steps_of(pairs: list[tuple[ActionRecord, EpochRecord | None]]) -> tuple[list[debrief.Step], list[tuple]]:
    """The engine's steps of one run and, beside each, the (action, epoch) rows it came from.

    An action whose epoch is not trained yet is left out: nothing happened to the network.
    """
    steps, sources = [], []
    for action, epoch in pairs:
        if trains_an_epoch(action.kind) and epoch is None:
            continue
        steps.append(debrief.Step(action.kind, epoch_point(epoch) if epoch is not None else None))
        sources.append((action, epoch))
    return steps, sources
