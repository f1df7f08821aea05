"""Background jobs of the datasets domain."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.datasets import service
from app.datasets.models import DatasetRecord
from app.bots.player import play_bot_run
from app.errors import JobCancelled
from app.runs.models import Run
from engine.baselines import linear_classifier_score

log = logging.getLogger(__name__)


def compute_baseline(session_factory: sessionmaker, dataset_id: int, epochs: int, device: str = "cpu", progress=None) -> None:
    """Measure and store a dataset's three baselines (once): default schedule, linear classifier, bot.

    Each baseline gets the same epoch budget ``epochs`` (the game's 30 in production). The bot
    plays through the game's service functions, so its run is stored like a player's.
    """
    with session_factory() as db:
        record = db.get(DatasetRecord, dataset_id)
        if record is None or record.baseline_status == "done":
            return
        record.baseline_status = "running"
        db.commit()
    try:
        default = service.default_baseline(record, epochs, device, progress)
        linear = linear_classifier_score(service.generated(record.family, record.seed, record.size), epochs, seed=0,
                                         device=device)
        bot_run_id = play_bot_run(session_factory, dataset_id, epochs, device, progress)
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
        record.baseline_default, record.baseline_linear = default, linear
        record.bot_run_id = bot_run_id
        record.baseline_bot = db.get(Run, bot_run_id).best_val_acc
        record.baseline_status = "done"
        db.commit()


def pending_baselines(db: Session) -> list[int]:
    """Datasets whose baseline is not computed yet (also those a dead process left running)."""
    return list(db.scalars(select(DatasetRecord.id).where(DatasetRecord.baseline_status.in_(("pending", "running")))))
