"""Playing an engine policy through the game's own service functions, so its run is stored like a player's.

The bot is a Student with role "bot". Each move goes through ``runs.service.submit`` with the
same rules, budget and action numbers as a browser, and each epoch through ``execute_action``,
the job function every runner uses.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import BOT_ROLE, Student
from app.runs import epoch_job, service
from app.runs.models import ENDED, FAILED, Run
from engine.actions import Action
from engine.bots import Observation, RuleBasedBot
from engine.config import HyperParams

def bot_student(db: Session, policy) -> Student:
    """The Student row a policy plays as (created on first use)."""
    student_id = f"bot:{policy.name}"
    student = db.scalar(select(Student).where(Student.student_id == student_id))
    if student is None:
        student = Student(student_id=student_id, name=f"Bot ({policy.name})", role=BOT_ROLE)
        db.add(student)
        db.flush()
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
                 progress=None, policy=None) -> int:
    """Play a whole game on ``dataset_id``; returns the run id. Presses Done once ``max_epochs`` are trained."""
    policy = policy or RuleBasedBot()
    with session_factory() as db:
        student = bot_student(db, policy)
        # A bot run left unfinished by a dead process is replayed from the start (it is deterministic).
        db.execute(delete(Run).where(Run.student_pk == student.id, Run.dataset_id == dataset_id,
                                     Run.parent_run_id.is_(None), Run.status.not_in((ENDED, FAILED))))
        run = Run(student_pk=student.id, dataset_id=dataset_id, seed=0, status=service.CONFIGURING,
                  initial_config={}, config={})
        db.add(run)
        db.flush()
        initial = policy.initial_config()
        action = service.configure(db, student, run.id, {k: str(v) for k, v in initial.as_dict().items()
                                                         if k in ("width", "depth", "lr", "dropout")})
        db.commit()
        run_id, student_pk = run.id, student.id
    epoch_job.execute_action(session_factory, action.id, progress, device)
    history: list[Observation] = []
    kind = "initial"
    while True:
        with session_factory() as db:
            run = db.get(Run, run_id)
            if run.status in (ENDED, FAILED):
                return run_id
            history.append(observe(db, run, kind))
            move = Action("done") if run.epoch >= max_epochs else policy.decide(history)
            record = service.submit(db, db.get(Student, student_pk), run_id, run.actions_used + 1, move)
            db.commit()
            kind, record_id, queued = record.kind, record.id, record.status == "queued"
        if queued:  # an epoch, or the test accuracy once the run has ended
            epoch_job.execute_action(session_factory, record_id, progress, device)
