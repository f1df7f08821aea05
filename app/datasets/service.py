"""Choosing datasets for new runs, caching generated data, the default-schedule baseline, pool readiness."""

from __future__ import annotations

import dataclasses
import functools
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.models import JOB_DONE, JOB_FAILED, JOB_RUNNING, DatasetRecord
from engine import references
from engine.datasets import Dataset, make_dataset, playable_families
from engine.rules import MAX_EPOCHS
from engine.training import DeviceData, place

#: The reference grid's schedule that is the game's default (no changes): the default baseline.
DEFAULT_SCHEDULE = next(s for s in references.SCHEDULES if s.name == "default")
#: Datasets each process keeps generated (and placed on its device): a class's whole default pool.
CACHED_DATASETS = 8


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
    ready = [r for r in pool_records(db, pool_size, families, size) if r.baseline_status == JOB_DONE]
    return (rng or random).choice(sorted(ready, key=lambda r: r.id)) if ready else None


@functools.lru_cache(maxsize=CACHED_DATASETS)
def generated(family: str, seed: int, size: str) -> Dataset:
    """The generated dataset, cached: several runs on one dataset share the tensors."""
    return make_dataset(family, seed, size)


@functools.lru_cache(maxsize=CACHED_DATASETS)
def placed(family: str, seed: int, size: str, device: str) -> DeviceData:
    """The dataset on ``device`` in the training layout, cached per process: an epoch job neither
    regenerates its data nor copies it to the device again (the tensors are only ever read)."""
    return place(generated(family, seed, size), device)


def default_curve(record: DatasetRecord, epochs: int = MAX_EPOCHS, device: str = "cpu", progress=None) -> list:
    """The default schedule's validation accuracy per epoch: default configuration, no changes, the whole budget.

    Played as the reference grid's "default" schedule, so the debrief's regret uses the same run.
    """
    dataset = generated(record.family, record.seed, record.size)
    outcomes = references.play_schedule(dataset, DEFAULT_SCHEDULE, epochs, seed=0, device=device,
                                        data=placed(record.family, record.seed, record.size, device), progress=progress)
    return references.curve_of(outcomes)


def curve_best(curve: list) -> float:
    """A curve's best validation accuracy (0 when every epoch diverged), as the baselines are scored."""
    return max((v for v in curve if v is not None), default=0.0)


@dataclasses.dataclass(frozen=True)
class PoolReadiness:
    """How far a pool is from "every dataset playable": per dataset and in total."""

    datasets: list[DatasetRecord]
    size: int
    baseline_epochs: int = MAX_EPOCHS

    @property
    def ready(self) -> int:
        """Datasets players can be given now."""
        return sum(r.baseline_status == JOB_DONE for r in self.datasets)

    @property
    def failed(self) -> int:
        """Datasets whose baselines failed (they are never handed out)."""
        return sum(r.baseline_status == JOB_FAILED for r in self.datasets)

    @property
    def finished(self) -> bool:
        """Every dataset is done or failed: nothing is left to compute."""
        return len(self.datasets) >= self.size and self.ready + self.failed == len(self.datasets)

    @property
    def epochs(self) -> tuple[int, int]:
        """(epochs trained, epochs to train) over the pool's baseline jobs; a job not started counts whole."""
        done = total = 0
        for r in self.datasets:
            job_total = r.baseline_total or baseline_epochs_total(self.baseline_epochs)
            total += job_total
            done += job_total if r.baseline_status in ("done", "failed") else min(r.baseline_done, job_total)
        return done, total

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until the pool is finished, at the pace of its finished jobs and as many at once as run now."""
        timed = [r for r in self.datasets if r.baseline_status == JOB_DONE and r.baseline_seconds and r.baseline_total]
        if self.finished or not timed:
            return None
        per_epoch = sum(r.baseline_seconds for r in timed) / sum(r.baseline_total for r in timed)
        done, total = self.epochs
        in_parallel = max(1, sum(r.baseline_status == JOB_RUNNING for r in self.datasets))
        return (total - done) * per_epoch / in_parallel

    def as_dict(self) -> dict:
        """JSON for the dashboard's live table."""
        done, total = self.epochs
        return {
            "size": self.size, "ready": self.ready, "failed": self.failed, "finished": self.finished,
            "epochs_done": done, "epochs_total": total, "eta_seconds": self.eta_seconds,
            "datasets": [{
                "id": r.id, "ref": r.ref, "status": r.baseline_status, "error": r.baseline_error,
                "done": r.baseline_done, "total": r.baseline_total,
                "default": r.baseline_default, "linear": r.baseline_linear, "bot": r.baseline_bot,
                "bot_run_id": r.bot_run_id,
            } for r in self.datasets],
        }


def pool_readiness(db: Session, pool_size: int, families: list[str], size: str, baseline_epochs: int) -> PoolReadiness:
    """The pool's datasets with their baseline progress, in pool order."""
    order = {entry: i for i, entry in enumerate(pool_entries(pool_size, families))}
    records = sorted(pool_records(db, pool_size, families, size), key=lambda r: order[(r.family, r.seed)])
    return PoolReadiness(records, pool_size, baseline_epochs)


def baseline_epochs_total(epochs: int) -> int:
    """Epochs one dataset's baseline job trains, for progress bars: the default schedule's and the bot's budget."""
    return 2 * epochs
