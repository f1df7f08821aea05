"""The pool's work, done once and worth playing: reference players go on from fork points on the baselines'
paths (the same curves as computed separately), a dataset with too little room to learn is passed over
for its family's next seed, and a waiting player sees progress and an estimate."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from app.classroom.models import ClassSettings
from app.datasets import service
from app.datasets.models import BASELINES_JOB, JOB_DONE, REFERENCES_JOB, DatasetRecord, ReferenceFork
from app.db import migrate
from app.db.base import utcnow
from app.db.session import make_engine, make_session_factory
from app.jobs.models import Job
from app.settings import Settings
from engine import references
from engine.rules import MAX_EPOCHS
from tests.services import wait_for
from tests.support.jobs import job_of, test_executor
from tests.support.players import ready_player, staff_login
from tests.webutil import game

EPOCHS = 6


@pytest.fixture
def sessions(database_url):
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_reference_players_from_fork_points_have_the_curves_of_separate_play(sessions, database_url):
    settings = Settings(database_url=database_url, baseline_epochs=EPOCHS, secret_key="test-secret-key")
    with sessions() as db:
        record, _ = service.get_or_create(db, "clusters", 3, "tiny")
        db.commit()
    executor = test_executor(sessions, settings)
    with sessions() as db:
        assert executor.run_job(job_of(db, BASELINES_JOB, record.id).id)
    with sessions() as db:
        # The default schedule's and the automatic player's paths noted where schedules starting like them part.
        assert db.scalar(select(func.count()).select_from(ReferenceFork).where(ReferenceFork.dataset_id == record.id)) >= 2
        assert executor.run_job(job_of(db, REFERENCES_JOB, record.id).id)
    with sessions() as db:
        stored = db.get(DatasetRecord, record.id)
        assert db.scalar(select(func.count()).select_from(ReferenceFork)) == 0  # gone on from: deleted
    separate = references.reference_players(service.generated("clusters", 3, "tiny"), EPOCHS, skip=())
    assert stored.reference_curves["default"] == separate.schedules["default"]
    assert stored.reference_curves["schedules"] == separate.schedules
    assert stored.reference_curves["random"] == separate.random
    assert stored.baseline_oracle == separate.oracle_score and stored.references_seconds > 0


def test_room_to_learn_is_judged_at_the_games_budget_only():
    assert service.room_to_learn(0.90, 0.93, MAX_EPOCHS, 0.05).startswith("the automatic player beat the default "
                                                                          "schedule by only 0.030")
    assert service.room_to_learn(0.60, 0.70, MAX_EPOCHS, 0.05) is None
    assert service.room_to_learn(0.90, 0.91, 2, 0.05) is None  # a test's short budget says nothing about it
    assert service.room_to_learn(None, 0.91, MAX_EPOCHS, 0.05) is None


def test_a_rejected_dataset_is_passed_over_for_its_familys_next_seed(sessions):
    with sessions() as db:
        dud, _ = service.get_or_create(db, "clusters", 1, "tiny")
        dud.rejected_reason = "too little room"
        db.commit()
        created = service.ensure_pool(db, 2, ["clusters"], "tiny")
        db.commit()
        assert sorted(r.seed for r in service.pool_records(db, 2, ["clusters"], "tiny")) == [2, 3]
        assert len(created) == 2
        db.execute(update(DatasetRecord).values(baseline_status="done"))
        db.commit()
        for _ in range(20):  # never the dud, though it is "done"
            assert service.pick_for_new_run(db, 2, ["clusters"], "tiny").seed in (2, 3)
        readiness = service.pool_readiness(db, 2, ["clusters"], "tiny", 2)
        assert [r.seed for r in readiness.rejected] == [1] and readiness.ready == 2
        assert readiness.as_dict()["rejected"][0]["reason"] == "too little room"


def test_a_family_that_keeps_failing_is_passed_over_only_so_often(sessions):
    with sessions() as db:
        for seed in range(1, service.MAX_PASSED_OVER + 3):
            record, _ = service.get_or_create(db, "clusters", seed, "tiny")
            record.rejected_reason = "too little room"
        db.commit()
        # The pool passes over MAX_PASSED_OVER seeds, then takes what there is rather than nothing.
        assert service.pool_entries(1, ["clusters"], service.rejected_entries(db, ["clusters"], "tiny")) == \
            [("clusters", service.MAX_PASSED_OVER + 1)]
        assert service.replace_dud(db, db.scalar(select(DatasetRecord).where(DatasetRecord.seed == 1))) is None


def clusters_only_class(url: str):
    """A migrated database whose class pool is one clusters dataset; its session factory."""
    migrate.upgrade(url)
    factory = make_session_factory(make_engine(url))
    with factory() as db:
        db.add(ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=["clusters"], reveal_test_accuracy=False))
        db.commit()
    return factory


def test_the_baselines_job_rejects_a_dud_and_prepares_the_next_seed(tmp_path):
    url = f"sqlite:///{tmp_path}/dud.sqlite3"
    factory = clusters_only_class(url)
    # The game's full budget, and a bar no automatic player can clear: clusters:1 is a dud by definition here.
    with game(url, pool_size=1, baseline_epochs=MAX_EPOCHS, min_room_to_learn=1.0, training_processes=1) as player:
        def replaced():
            with factory() as db:
                first = db.scalar(select(DatasetRecord).where(DatasetRecord.seed == 1))
                second = db.scalar(select(DatasetRecord).where(DatasetRecord.seed == 2))
                return first if first and first.rejected_reason and second else None

        dud = wait_for(replaced, 300, "clusters:1 to be passed over", [])
        assert "the automatic player beat the default schedule by only" in dud.rejected_reason
        with factory() as db:
            assert job_of(db, REFERENCES_JOB, dud.id) is None  # nobody plays it: no debrief to prepare
            second = db.scalar(select(DatasetRecord).where(DatasetRecord.seed == 2))
            assert job_of(db, BASELINES_JOB, second.id) is not None  # its replacement is on its way
        staff_login(player, "prof", "instructor")
        page = player.client.get("/instructor").text
        assert "Passed over: too little to learn" in page and "clusters #1" in page


def test_the_dud_a_pool_takes_after_all_gets_its_reference_players(tmp_path):
    url = f"sqlite:///{tmp_path}/duds.sqlite3"
    factory = clusters_only_class(url)
    last = service.MAX_PASSED_OVER + 1  # passed over MAX_PASSED_OVER times, the pool takes this seed whatever it is
    with game(url, pool_size=1, baseline_epochs=MAX_EPOCHS, min_room_to_learn=1.0, training_processes=1):
        def taken():
            with factory() as db:
                record = db.scalar(select(DatasetRecord).where(DatasetRecord.seed == last))
                return record if record and record.rejected_reason and record.references_status == JOB_DONE else None

        wait_for(taken, 600, f"clusters:{last} to be rejected and get its reference players", [])
        with factory() as db:
            assert db.scalar(select(DatasetRecord).where(DatasetRecord.seed == last + 1)) is None  # no endless seeds
            assert [r.seed for r in service.pool_records(db, 1, ["clusters"], db.get(DatasetRecord, 1).size)] == [last]


def test_a_waiting_player_sees_the_pools_progress_and_an_estimate(tmp_path):
    with game(f"sqlite:///{tmp_path}/wait.sqlite3", pool_size=2, baseline_epochs=2) as player:
        player.app.state.runner.stop()  # nothing computes: the test sets the pool's state itself
        ready_player(player)
        with player.app.state.session_factory() as db:
            first, second = db.scalars(select(DatasetRecord).order_by(DatasetRecord.id)).all()
            first.baseline_status, first.baseline_done, first.baseline_total = "running", 1, 6
            db.execute(update(Job).where(Job.kind == BASELINES_JOB, Job.subject_id == first.id)
                       .values(status="running", started_at=utcnow() - dt.timedelta(seconds=30)))
            db.commit()
        page = player.client.get("/runs/new").text
        assert "0 of 2</strong> datasets are ready" in page
        assert 'aria-label="Baseline epochs computed"' in page and "10% of the training" in page  # 1 of 6 + 4
        # One epoch took 30 s so far: the running dataset needs 5 more, about 150 s.
        assert "The first dataset should be ready in about 2 min" in page
