"""Playing an engine policy through the game's own service functions, so its run is stored like a player's.

The bot is a Student with role "bot". Each move goes through ``runs.service.submit`` with the
same rules, budget and action numbers as a browser, and each epoch through ``train_action``, the
function a player's epoch job runs; being inside a job already, the driver trains its epochs itself.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import BOT_ROLE, Student, name_key
from app.db.base import utcnow
from app.db.insert import insert_if_absent
from app.runs import epoch_job, service
from app.runs.test_accuracy import measure_test_accuracy
from app.runs.models import CONFIGURING, ENDED, FAILED, CheckpointRecord, Run
from engine.actions import Action, trains_an_epoch
from engine.bots import Observation, RuleBasedBot
from engine.config import HyperParams

def bot_student(db: Session, policy) -> Student:
    """The Student row a policy plays as (created on first use, by whichever runner gets there first)."""
    student_id, name = f"bot:{policy.name}", f"Bot ({policy.name})"
    student = db.scalar(select(Student).where(Student.student_id == student_id))
    if student is None:
        insert_if_absent(db, Student, {"student_id": student_id, "name": name, "name_key": name_key(name),
                                       "role": BOT_ROLE, "created_at": utcnow()}, ["student_id", "name_key"])
        student = db.scalar(select(Student).where(Student.student_id == student_id))
    return student


def observe(db: Session, run: Run, kind: str) -> Observation:
    """What a player sees on the training page right after an action of ``kind``."""
    path = service.path_epochs(db, run)
    last = path[-1] if path else None
    return Observation(
        action=run.actions_used,
        epoch=run.epoch,
        config=HyperParams.from_dict(run.config),
        train_loss=last.train_loss if last else None,
        train_acc=last.train_acc if last else None,
        val_loss=last.val_loss if last else None,
        val_acc=last.val_acc if last else None,
        diverged=bool(last.diverged) if last else False,
        best_val_acc=run.best_val_acc,
        consecutive_reverts=run.consecutive_reverts,
        kind=kind,
    )


def play_bot_run(session_factory: sessionmaker, dataset_id: int, max_epochs: int, device: str = "cpu",
                 progress=None, policy=None, recorder=None) -> int:
    """Play a whole game on ``dataset_id``; returns the run id. Presses Done once ``max_epochs`` are trained.

    ``progress(run_id, done, total)`` is called as epochs train (-1, -1 when one is stored) and may
    raise JobCancelled to stop the game (it is replayed from the start next time). ``recorder`` (an
    engine.lockstep.ForkRecorder) notes where reference schedules that start like the policy leave
    its path, with the run's checkpoint there, so they need not train the shared epochs again.
    """
    policy = policy or RuleBasedBot()
    with session_factory() as db:
        student = bot_student(db, policy)
        # A bot run left unfinished by a dead process is replayed from the start (it is deterministic).
        db.execute(delete(Run).where(Run.student_pk == student.id, Run.dataset_id == dataset_id,
                                     Run.parent_run_id.is_(None), Run.status.not_in((ENDED, FAILED))))
        run = Run(student_pk=student.id, dataset_id=dataset_id, seed=0, status=CONFIGURING,
                  initial_config={}, config={})
        db.add(run)
        db.flush()
        initial = policy.initial_config()
        action = service.configure(db, student, run.id, {k: str(v) for k, v in initial.as_dict().items()
                                                         if k in ("width", "depth", "lr", "dropout")})
        db.commit()
        run_id, student_pk = run.id, student.id
    epoch_job.train_action(session_factory, action.id, progress, device)
    history: list[Observation] = []
    kind = "initial"
    while True:
        with session_factory() as db:
            run = db.get(Run, run_id)
            history.append(observe(db, run, kind))
            if run.status in (ENDED, FAILED):  # by a limit, or after Done
                break
            move = Action("done") if run.epoch >= max_epochs else policy.decide(history)
            if recorder is not None:
                recorder.step(history, move, lambda: current_checkpoint(db, run))
            record = service.submit(db, db.get(Student, student_pk), run_id, run.actions_used + 1, move)
            db.commit()
            kind, record_id = record.kind, record.id
        if trains_an_epoch(kind):
            epoch_job.train_action(session_factory, record_id, progress, device)
    if recorder is not None:
        recorder.finish(history)
    measure_test_accuracy(session_factory, run_id, device)
    return run_id


def current_checkpoint(db: Session, run: Run) -> bytes:
    """The bytes of the checkpoint the run stands on now."""
    return bytes(db.scalar(select(CheckpointRecord.data).where(CheckpointRecord.id == run.current_checkpoint_id)))
