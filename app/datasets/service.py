"""Choosing datasets for new runs, caching generated data, and the default-schedule baseline."""

from __future__ import annotations

import functools
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.models import DatasetRecord
from engine.calibration import best_val_accuracy
from engine.config import default_hparams
from engine.datasets import Dataset, make_dataset, playable_families
from engine.rules import MAX_EPOCHS


def pool_entries(pool_size: int, families: list[str] | None = None) -> list[tuple[str, int]]:
    """The (family, seed) pairs of the shared pool: the allowed families in turn, seeds counting up."""
    families = sorted(families or playable_families())
    return [(families[i % len(families)], i // len(families) + 1) for i in range(pool_size)]


def get_or_create(db: Session, family: str, seed: int, size: str) -> tuple[DatasetRecord, bool]:
    """The stored record of (family, seed, size), creating it (with its statistics) if new."""
    record = db.scalar(
        select(DatasetRecord).where(DatasetRecord.family == family, DatasetRecord.seed == seed, DatasetRecord.size == size)
    )
    if record is not None:
        return record, False
    dataset = generated(family, seed, size)
    stats = dataset.stats()
    record = DatasetRecord(
        family=family,
        seed=seed,
        size=size,
        num_classes=dataset.num_classes,
        input_shape=list(dataset.input_shape),
        train_examples=stats["examples"]["train"],
        val_examples=stats["examples"]["val"],
        test_examples=stats["examples"]["test"],
        baseline_status="pending",
    )
    db.add(record)
    db.flush()
    return record, True


def ensure_pool(db: Session, pool_size: int, families: list[str], size: str) -> list[int]:
    """Create the pool's missing datasets; returns the ids of new ones (their baselines are still to compute)."""
    # One query for what exists: this runs on every "Start a dataset".
    existing = {(r.family, r.seed) for r in pool_records(db, pool_size, families, size)}
    created = []
    for family, seed in pool_entries(pool_size, families):
        if (family, seed) not in existing:
            record, new = get_or_create(db, family, seed, size)
            if new:
                created.append(record.id)
    return created


def pool_records(db: Session, pool_size: int, families: list[str], size: str) -> list[DatasetRecord]:
    """The pool's datasets that exist so far."""
    entries = pool_entries(pool_size, families)
    records = db.scalars(select(DatasetRecord).where(DatasetRecord.size == size, DatasetRecord.family.in_({f for f, _ in entries})))
    wanted = set(entries)
    return [r for r in records if (r.family, r.seed) in wanted]


def pick_for_new_run(db: Session, pool_size: int, families: list[str], size: str,
                     rng: random.Random | None = None) -> DatasetRecord | None:
    """A random pool dataset whose baselines are ready, so players' scores compare; None while none is."""
    ready = [r for r in pool_records(db, pool_size, families, size) if r.baseline_status == "done"]
    return (rng or random).choice(sorted(ready, key=lambda r: r.id)) if ready else None


@functools.lru_cache(maxsize=8)
def generated(family: str, seed: int, size: str) -> Dataset:
    """The generated dataset, cached: several runs on one dataset share the tensors."""
    return make_dataset(family, seed, size)


def default_baseline(record: DatasetRecord, epochs: int = MAX_EPOCHS, device: str = "cpu", progress=None) -> float:
    """The default schedule's score: default configuration, no changes, the whole epoch budget."""
    dataset = generated(record.family, record.seed, record.size)
    return best_val_accuracy(dataset, default_hparams(), epochs, seed=0, device=device, progress=progress)
