"""Choosing datasets for new runs, caching generated data, the default-schedule baseline, pool readiness."""

from __future__ import annotations

import dataclasses
import functools
import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.datasets.models import BASELINES_JOB, JOB_DONE, JOB_FAILED, JOB_PENDING, JOB_RUNNING, DatasetRecord
from app.db.base import as_utc, utcnow
from app.jobs.models import RUNNING, Job
from app.jobs.queue import enqueue
from engine import references
from engine.datasets import Dataset, make_dataset, playable_families
from engine.rules import MAX_EPOCHS
from engine.training import DeviceData, place

#: Datasets each process keeps generated (and placed on its device): a class's whole default pool.
CACHED_DATASETS = 8


#: Rejected seeds a pool passes over per family before it takes what there is.
MAX_PASSED_OVER = 3


def pool_entries(pool_size: int, families: list[str] | None = None,
                 rejected: set[tuple[str, int]] = frozenset()) -> list[tuple[str, int]]:
    """The (family, seed) pairs of the shared pool: the allowed families in turn, seeds counting up.

    A ``rejected`` dataset (too little room to learn, see ``room_to_learn``) is skipped: its family's
    next seed takes its place, so a pool never hands out a dud. At most MAX_PASSED_OVER seeds of a
    family are skipped (a family that keeps failing needs its generator looked at, not endless seeds).
    """
    families = sorted(families or playable_families())
    wanted = {f: sum(1 for i in range(pool_size) if families[i % len(families)] == f) for f in families}
    seeds: dict[str, list[int]] = {}
    for family in families:
        seed, chosen, passed_over = 1, [], 0
        while len(chosen) < wanted[family]:
            if (family, seed) in rejected and passed_over < MAX_PASSED_OVER:
                passed_over += 1
            else:
                chosen.append(seed)
            seed += 1
        seeds[family] = chosen
    return [(families[i % len(families)], seeds[families[i % len(families)]][i // len(families)])
            for i in range(pool_size)]


def rejected_entries(db: Session, families: list[str], size: str) -> set[tuple[str, int]]:
    """(family, seed) of the datasets of ``families`` that were turned away from pools."""
    return {(family, seed) for family, seed in db.execute(select(DatasetRecord.family, DatasetRecord.seed).where(
        DatasetRecord.size == size, DatasetRecord.family.in_(families), DatasetRecord.rejected_reason.is_not(None)))}


def get_or_create(db: Session, family: str, seed: int, size: str) -> tuple[DatasetRecord, bool]:
    """The stored record of (family, seed, size), creating it (with its statistics, its baselines job enqueued) if new."""
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
        baseline_status=JOB_PENDING,
    )
    db.add(record)
    db.flush()
    enqueue(db, BASELINES_JOB, record.id)
    return record, True


def replace_dud(db: Session, record: DatasetRecord) -> DatasetRecord | None:
    """The dataset prepared in place of a rejected one: its family's first seed after every one stored;
    None once MAX_PASSED_OVER of the family are rejected (pools then stop passing them over)."""
    rejected = db.scalar(select(func.count()).select_from(DatasetRecord).where(
        DatasetRecord.family == record.family, DatasetRecord.size == record.size,
        DatasetRecord.rejected_reason.is_not(None))) or 0
    if rejected > MAX_PASSED_OVER:
        return None
    seed = (db.scalar(select(func.max(DatasetRecord.seed)).where(DatasetRecord.family == record.family,
                                                                 DatasetRecord.size == record.size)) or 0) + 1
    return get_or_create(db, record.family, seed, record.size)[0]


def ensure_pool(db: Session, pool_size: int, families: list[str], size: str) -> list[int]:
    """Create the pool's missing datasets (their baselines jobs enqueued); returns the new ones' ids."""
    # Two queries for what exists: this runs on every "Start a dataset".
    existing = {(r.family, r.seed) for r in pool_records(db, pool_size, families, size)}
    created = []
    for family, seed in pool_entries(pool_size, families, rejected_entries(db, families, size)):
        if (family, seed) not in existing:
            record, new = get_or_create(db, family, seed, size)
            if new:
                created.append(record.id)
    return created


def pool_records(db: Session, pool_size: int, families: list[str], size: str) -> list[DatasetRecord]:
    """The pool's datasets that exist so far (rejected ones are not in it: their replacements are)."""
    entries = pool_entries(pool_size, families, rejected_entries(db, families, size))
    records = db.scalars(select(DatasetRecord).where(DatasetRecord.size == size, DatasetRecord.family.in_({f for f, _ in entries})))
    wanted = set(entries)
    return [r for r in records if (r.family, r.seed) in wanted]


def pick_for_new_run(db: Session, pool_size: int, families: list[str], size: str,
                     rng: random.Random | None = None, played: dict[int, int] | None = None) -> DatasetRecord | None:
    """A pool dataset whose baselines are ready (so players' scores compare); None while none is.

    ``played``: how many runs the player has on each dataset (by id). Among the ready datasets the
    ones they played least are drawn from (first those they never played), so a class spreads over
    the pool and "Play again" brings a new dataset while one is ready.
    """
    ready = [r for r in pool_records(db, pool_size, families, size) if r.baseline_status == JOB_DONE]
    if not ready:
        return None
    played = played or {}
    fewest = min(played.get(r.id, 0) for r in ready)
    least_played = sorted((r for r in ready if played.get(r.id, 0) == fewest), key=lambda r: r.id)
    return (rng or random).choice(least_played)


@functools.lru_cache(maxsize=CACHED_DATASETS)
def generated(family: str, seed: int, size: str) -> Dataset:
    """The generated dataset, cached: several runs on one dataset share the tensors."""
    return make_dataset(family, seed, size)


@functools.lru_cache(maxsize=CACHED_DATASETS)
def placed(family: str, seed: int, size: str, device: str) -> DeviceData:
    """The dataset on ``device`` in the training layout, cached per process: an epoch job neither
    regenerates its data nor copies it to the device again (the tensors are only ever read)."""
    return place(generated(family, seed, size), device)


def default_curve(record: DatasetRecord, epochs: int = MAX_EPOCHS, device: str = "cpu", progress=None):
    """The default schedule's validation accuracy per epoch (default configuration, no changes, the whole
    budget) and the fork points where reference schedules that start like it leave its path.

    Played as the reference grid's "default" schedule, so the debrief's regret uses the same run, and
    the schedules sharing its first epochs go on from those fork points instead of training them again.
    """
    dataset = generated(record.family, record.seed, record.size)
    outcomes, forks = references.play_default_recording(
        dataset, epochs, seed=0, device=device, data=placed(record.family, record.seed, record.size, device),
        progress=progress)
    return references.curve_of(outcomes), forks


def room_to_learn(default: float | None, bot: float | None, epochs: int, min_room: float) -> str | None:
    """Why a dataset with these baselines is no use to a class (too little room to learn), or None when it is.

    The automatic player must beat the default schedule by ``min_room`` (HYPERQUEST_MIN_ROOM_TO_LEARN)
    at the budget actually played: baselines of a shorter budget (tests, quick checks) say nothing
    about it, so they reject nothing.
    """
    if default is None or bot is None or epochs < MAX_EPOCHS:
        return None
    room = bot - default
    if room >= min_room:
        return None
    return (f"the automatic player beat the default schedule by only {room:.3f} ({bot:.3f} against {default:.3f}); "
            f"choices matter too little below {min_room:g}")


def curve_best(curve: list) -> float:
    """A curve's best validation accuracy (0 when every epoch diverged), as the baselines are scored."""
    return max((v for v in curve if v is not None), default=0.0)


@dataclasses.dataclass(frozen=True)
class PoolReadiness:
    """How far a pool is from "every dataset playable": per dataset and in total."""

    datasets: list[DatasetRecord]
    size: int
    baseline_epochs: int = MAX_EPOCHS
    #: Datasets computed for this pool but turned away (too little to learn), replaced by later seeds.
    rejected: list[DatasetRecord] = dataclasses.field(default_factory=list)
    #: Seconds each running baselines job has run so far, by dataset id (for the estimates).
    running_seconds: dict[int, float] = dataclasses.field(default_factory=dict)

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
    def references_done(self) -> int:
        """Datasets whose reference players are computed."""
        return sum(r.references_status == JOB_DONE for r in self.datasets)

    @property
    def references_finished(self) -> bool:
        """Every playable dataset's reference players are computed or failed: nothing is left to compute."""
        return self.finished and all(r.references_status in (JOB_DONE, JOB_FAILED) for r in self.datasets
                                     if r.baseline_status == JOB_DONE)

    @property
    def epochs(self) -> tuple[int, int]:
        """(epochs trained, epochs to train) over the pool's baseline jobs; a job not started counts whole."""
        done = total = 0
        for r in self.datasets:
            job_total = r.baseline_total or baseline_epochs_total(self.baseline_epochs)
            total += job_total
            done += job_total if r.baseline_status in (JOB_DONE, JOB_FAILED) else min(r.baseline_done, job_total)
        return done, total

    def _seconds_per_epoch(self) -> float | None:
        """The pace of one baselines job: from the finished jobs, else from the running ones so far."""
        timed = [r for r in self.datasets if r.baseline_status == JOB_DONE and r.baseline_seconds and r.baseline_total]
        if timed:
            return sum(r.baseline_seconds for r in timed) / sum(r.baseline_total for r in timed)
        running = [(self.running_seconds[r.id], r.baseline_done) for r in self.datasets
                   if r.baseline_status == JOB_RUNNING and r.baseline_done and r.id in self.running_seconds]
        if running:
            return sum(seconds for seconds, _ in running) / sum(done for _, done in running)
        return None

    @property
    def eta_seconds(self) -> float | None:
        """Seconds until the pool is finished, at the pace of its jobs so far and as many at once as run now."""
        per_epoch = self._seconds_per_epoch()
        if self.finished or per_epoch is None:
            return None
        done, total = self.epochs
        in_parallel = max(1, sum(r.baseline_status == JOB_RUNNING for r in self.datasets))
        return (total - done) * per_epoch / in_parallel

    @property
    def first_ready_seconds(self) -> float | None:
        """While no dataset is playable: seconds until the furthest running one is, at the pace so far."""
        per_epoch = self._seconds_per_epoch()
        running = [r for r in self.datasets if r.baseline_status == JOB_RUNNING]
        if self.ready or per_epoch is None or not running:
            return None
        return min(max(0, (r.baseline_total or 0) - r.baseline_done) for r in running) * per_epoch

    def as_dict(self) -> dict:
        """JSON for the dashboard's live table."""
        done, total = self.epochs
        return {
            "size": self.size, "ready": self.ready, "failed": self.failed, "finished": self.finished,
            "references_done": self.references_done, "references_finished": self.references_finished,
            "epochs_done": done, "epochs_total": total, "eta_seconds": self.eta_seconds,
            "first_ready_seconds": self.first_ready_seconds,
            "datasets": [{
                "id": r.id, "ref": r.ref, "status": r.baseline_status, "error": r.baseline_error,
                "done": r.baseline_done, "total": r.baseline_total,
                "default": r.baseline_default, "linear": r.baseline_linear, "bot": r.baseline_bot,
                "references": r.references_status,
                "bot_run_id": r.bot_run_id,
            } for r in self.datasets],
            "rejected": [{"id": r.id, "ref": r.ref, "reason": r.rejected_reason, "default": r.baseline_default,
                          "bot": r.baseline_bot} for r in self.rejected],
        }


def pool_readiness(db: Session, pool_size: int, families: list[str], size: str, baseline_epochs: int) -> PoolReadiness:
    """The pool's datasets with their baseline progress, in pool order, and the ones it turned away."""
    rejected = rejected_entries(db, families, size)
    order = {entry: i for i, entry in enumerate(pool_entries(pool_size, families, rejected))}
    records = sorted(pool_records(db, pool_size, families, size), key=lambda r: order[(r.family, r.seed)])
    # Turned away from this pool: the rejected datasets of seeds the pool reached past.
    reached = {family: max(seed for f, seed in order if f == family) for family, _ in order}
    turned_away = sorted((r for r in db.scalars(select(DatasetRecord).where(
        DatasetRecord.size == size, DatasetRecord.family.in_(families), DatasetRecord.rejected_reason.is_not(None)))
        if r.seed < reached.get(r.family, 0)), key=lambda r: (r.family, r.seed))
    return PoolReadiness(records, pool_size, baseline_epochs, turned_away, _running_seconds(db, records))


def _running_seconds(db: Session, records: list[DatasetRecord]) -> dict[int, float]:
    """How long each running baselines job of ``records`` has run (its lease's start)."""
    running = [r.id for r in records if r.baseline_status == JOB_RUNNING]
    if not running:
        return {}
    now = utcnow()
    return {subject: (now - as_utc(started)).total_seconds() for subject, started in db.execute(
        select(Job.subject_id, Job.started_at).where(Job.kind == BASELINES_JOB, Job.subject_id.in_(running),
                                                     Job.status == RUNNING, Job.started_at.is_not(None)))}


def baseline_epochs_total(epochs: int) -> int:
    """Epochs one dataset's baseline job trains, for progress bars: the default schedule's and the bot's budget."""
    return 2 * epochs
