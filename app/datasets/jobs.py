"""Background jobs of the datasets domain."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.datasets import service
from app.datasets.models import DatasetRecord
from app.errors import JobCancelled

log = logging.getLogger(__name__)


def compute_baseline(session_factory: sessionmaker, dataset_id: int, epochs: int, device: str = "cpu", progress=None) -> None:
    """Measure and store the default schedule's score for a dataset (once)."""
    with session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        if record is None or record.baseline_status == "done":
            return
        record.baseline_status = "running"
        db.commit()
    try:
        score = service.default_baseline(record, epochs, device, progress)
    except JobCancelled:
        raise  # left "running": the next start computes it again
    except Exception as exc:
        log.exception("baseline of dataset %s failed", dataset_id)
        with session_factory() as db:
            record = db.get(DatasetRecord, dataset_id)
            record.baseline_status, record.baseline_error = "failed", str(exc)[:2000]
            db.commit()
        return
    with session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        record.baseline_default, record.baseline_status = score, "done"
        db.commit()


def pending_baselines(db: Session) -> list[int]:
    """Datasets whose baseline is not computed yet (also those a dead process left running)."""
    return list(db.scalars(select(DatasetRecord.id).where(DatasetRecord.baseline_status.in_(("pending", "running")))))
