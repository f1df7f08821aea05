"""A seeded class of simulated players, played through the game's own service as the automatic player plays
(app.bots.player): each move goes through ``runs.service.submit``; being human players, their epochs are
enqueued and trained by the app's own runner, as a browser player's are."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.accounts.models import Student, name_key
from app.bots.player import observe
from app.datasets.models import DatasetRecord
from app.db.base import utcnow
from app.runs import service
from app.runs.models import CONFIGURING, ENDED, FAILED, Run
from engine.actions import Action, trains_an_epoch
from engine.bots import RuleBasedBot
from engine.references import RandomPlayer


def _wait_idle(session_factory: sessionmaker, run_id: int, timeout: float = 120) -> None:
    """Until the run's epoch is stored (the app's own runner may have taken the job first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_factory() as db:
            if not db.get(Run, run_id).busy:
                return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still training")


def play_student(session_factory: sessionmaker, student_pk: int, dataset_id: int, policy, max_epochs: int) -> int:
    """One finished run of a human student on ``dataset_id``, moves chosen by ``policy``; returns the run id."""
    with session_factory() as db:
        student = db.get(Student, student_pk)
        run = Run(student_pk=student.id, dataset_id=dataset_id, seed=student_pk, status=CONFIGURING,
                  initial_config={}, config={})
        db.add(run)
        db.flush()
        initial = policy.initial_config().as_dict()
        service.configure(db, student, run.id, {k: str(v) for k, v in initial.items()
                                                         if k in ("width", "depth", "lr", "dropout")})
        db.commit()
        run_id = run.id
    _wait_idle(session_factory, run_id)
    history, kind = [], "initial"
    while True:
        with session_factory() as db:
            run = db.get(Run, run_id)
            history.append(observe(db, run, kind))
            if run.status in (ENDED, FAILED):
                return run_id
            move = Action("done") if run.epoch >= max_epochs else policy.decide(history)
            record = service.submit(db, db.get(Student, student_pk), run_id, run.actions_used + 1, move)
            db.commit()
            kind = record.kind
        if trains_an_epoch(kind):
            _wait_idle(session_factory, run_id)


def seeded_class(session_factory: sessionmaker, dataset_id: int, players: int = 30, max_epochs: int = 4) -> list[int]:
    """``players`` students of the default class, half careful (the rule-based policy), half random; run ids."""
    run_ids = []
    for i in range(players):
        name = f"Sim Player {i:02d}"
        with session_factory() as db:
            student = Student(student_id=f"sim{i:02d}", name=name, name_key=name_key(name), created_at=utcnow())
            db.add(student)
            db.commit()
            student_pk = student.id
        policy = RuleBasedBot() if i % 2 == 0 else RandomPlayer(seed=i)
        run_ids.append(play_student(session_factory, student_pk, dataset_id, policy, max_epochs))
    return run_ids


def ready_dataset(session_factory: sessionmaker) -> int:
    """A pool dataset whose baselines are done."""

    with session_factory() as db:
        return db.scalar(select(DatasetRecord.id).where(DatasetRecord.baseline_status == "done").limit(1))
