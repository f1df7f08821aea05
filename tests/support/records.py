"""Rows written straight into a test database: datasets with chosen baselines, finished runs, players."""

from __future__ import annotations

import itertools

from app.accounts.models import Student
from app.datasets.models import DatasetRecord
from app.runs.models import Run

_seeds = itertools.count(900)


def dataset_with_baselines(db, num_classes: int = 10, val_examples: int = 386, default: float = 0.961,
                           linear: float | None = 0.3004, bot: float | None = 0.972, oracle: float | None = None,
                           random_player: float | None = None, family: str = "shapes") -> DatasetRecord:
    """A playable dataset record with the given reference scores (references "done" once oracle is given)."""
    record = DatasetRecord(family=family, seed=next(_seeds), size="tiny", num_classes=num_classes, input_shape=[3, 32, 32],
                           train_examples=1000, val_examples=val_examples, test_examples=200, baseline_status="done",
                           baseline_default=default, baseline_linear=linear, baseline_bot=bot,
                           baseline_oracle=oracle, baseline_random=random_player,
                           oracle_schedule="lr 0.1 step decay" if oracle is not None else None,
                           references_status="done" if oracle is not None else "pending")
    db.add(record)
    db.flush()
    return record


def student(db, student_id: str, name: str) -> Student:
    """A human player."""
    row = Student(student_id=student_id, name=name)
    db.add(row)
    db.flush()
    return row


def ended_run(db, who: Student, dataset: DatasetRecord, score: float, scenario_id: int | None = None) -> Run:
    """A finished run with ``score`` as its best validation accuracy."""
    run = Run(student_pk=who.id, dataset_id=dataset.id, seed=0, status="ended", initial_config={}, config={},
              best_val_acc=score, scenario_id=scenario_id, end_reason="finished by the player", epoch=1, actions_used=2)
    db.add(run)
    db.flush()
    return run
