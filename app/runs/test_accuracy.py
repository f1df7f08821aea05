"""The test-accuracy job: an ended player's run gets its best network measured on the hidden test split.

Enqueued when the run ends (app.runs.service.end_run), in the debrief lane: the player is looking
at the result page. The bot's driver measures its own runs directly (``measure_test_accuracy``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Student
from app.classroom.service import SETTINGS_ID
from app.datasets import service as datasets
from app.datasets.models import DatasetRecord
from app.jobs.context import JobContext
from app.jobs.lanes import DEBRIEF
from app.jobs.registry import Subject, job_kind
from app.runs.models import TEST_ACCURACY_JOB, CheckpointRecord, Run
from app.runs.service import needs_test_accuracy
from engine import checkpoint
from engine.training import evaluate


def _describe(db: Session, run_id: int) -> Subject:
    row = db.execute(select(Student.name, Student.class_id).join(Run, Run.student_pk == Student.id)
                     .where(Run.id == run_id)).first()
    if row is None:
        return Subject(f"run {run_id} (deleted)")
    return Subject(f"test accuracy of {row[0]}'s run {run_id}", row[1] or SETTINGS_ID)


@job_kind(TEST_ACCURACY_JOB, DEBRIEF, label="test accuracy of ended runs", describe=_describe)
def test_accuracy_job(ctx: JobContext, run_id: int) -> None:
    """Measure and store an ended run's hidden test accuracy, then nudge its result page."""
    measure_test_accuracy(ctx.session_factory, run_id, ctx.device)
    ctx.publish(run_id)


def measure_test_accuracy(session_factory: sessionmaker, run_id: int, device: str = "cpu") -> None:
    """Store the hidden test accuracy of the run's best checkpoint, once (players see it only if allowed)."""
    with session_factory() as db:
        run = db.get(Run, run_id)
        if run is None or not needs_test_accuracy(run):
            return
        blob = db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == run.best_checkpoint_id))
        dataset = db.get(DatasetRecord, run.dataset_id)
        if blob is None:
            return
        blob, where = bytes(blob), (dataset.family, dataset.seed, dataset.size)
    data = datasets.placed(*where, device)
    state = checkpoint.from_bytes(blob, device)
    _, accuracy = evaluate(state.network, data.test_x, data.test_y)
    with session_factory() as db:
        run = db.get(Run, run_id)
        if run is not None and run.test_acc is None:
            run.test_acc = accuracy
            db.commit()
