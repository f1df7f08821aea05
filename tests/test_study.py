"""A study in a class: stratified balanced assignment, consent over HTTP, study settings, hints."""

from __future__ import annotations

import collections
import math

import pytest
from sqlalchemy import select

from app.accounts.models import Student, SurveyResponse
from app.classroom.service import class_settings
from app.datasets.models import DatasetRecord
from app.db import migrate
from app.db.session import make_engine, make_session_factory
from app.research import conditions, study
from app.research.models import Assignment
from app.runs.models import READY, ActionRecord, EpochRecord, Run
from tests.support.players import ready_player, staff_login
from tests.webutil import game
from tests.webutil import test_settings as settings_for

ARMS = ["control", "tip", "suggestion"]
#: Uneven strata, as a real class would answer the experience question.
STRATA = {"This class is my first experience": 83, "Less than 6 months": 54, "6 months - 1 year": 31,
          "1 - 2 years": 20, "2+ years": 7, None: 5}
CONSENT = "We study how people train networks.\nYour actions are recorded under a pseudonym."


# ----------------------------------------------------------------------------- assignment


def _database(path) -> tuple:
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    engine = make_engine(url)
    return engine, make_session_factory(engine), settings_for(url)


def _enable(db, settings, seed: str = "seed-one", arms=ARMS) -> None:
    row = class_settings(db, settings)
    row.research_enabled, row.consent_text, row.consent_version = True, CONSENT, 1
    row.arms, row.assignment_seed = list(arms), seed
    db.commit()


def _players(factory, settings) -> dict[str, str]:
    """200 consenting players over the strata, assigned in creation order; their conditions by student ID."""
    out = {}
    with factory() as db:
        n = 0
        for stratum, size in STRATA.items():
            for _ in range(size):
                n += 1
                student = Student(student_id=f"p{n:03d}", name=f"Player {n}", consented=True, consent_version=1)
                db.add(student)
                db.flush()
                if stratum is not None:
                    db.add(SurveyResponse(student_pk=student.id, education="Masters student", experience_years=stratum,
                                          self_rating="Some experience", network_types=[]))
                db.flush()
                out[student.student_id] = study.ensure_assignment(db, student, settings)
                db.commit()
    assert n == 200
    return out


def test_assignment_is_balanced_per_stratum_and_stable(tmp_path):
    engine, factory, settings = _database(tmp_path / "a.sqlite3")
    with factory() as db:
        _enable(db, settings)
    first = _players(factory, settings)
    with factory() as db:
        rows = list(db.scalars(select(Assignment)))
        assert len(rows) == 200
        per_stratum = collections.defaultdict(collections.Counter)
        for a in rows:
            per_stratum[a.stratum][a.condition] += 1
            assert a.seed == "seed-one" and a.arms == "control,tip,suggestion"
        assert set(per_stratum) == {s or study.UNANSWERED for s in STRATA}
        for stratum, counts in per_stratum.items():
            sizes = [counts[arm] for arm in ARMS]
            assert max(sizes) - min(sizes) <= 1, (stratum, sizes)
        # Fixed per player: asking again draws nothing new.
        student = db.scalar(select(Student).where(Student.student_id == "p001"))
        assert study.ensure_assignment(db, student, settings) == first["p001"]
        assert study.condition_of(db, student) == first["p001"]
    engine.dispose()

    # A restart: a new engine and app settings on the same database read the same conditions.
    engine, factory, settings = _database(tmp_path / "a.sqlite3")
    with factory() as db:
        for student in db.scalars(select(Student)):
            assert study.condition_of(db, student) == first[student.student_id]
    engine.dispose()

    # The same players in a fresh database get the same conditions; another seed another assignment.
    engine, factory, settings = _database(tmp_path / "b.sqlite3")
    with factory() as db:
        _enable(db, settings)
    assert _players(factory, settings) == first
    engine.dispose()
    engine, factory, settings = _database(tmp_path / "c.sqlite3")
    with factory() as db:
        _enable(db, settings, seed="seed-two")
    other = _players(factory, settings)
    assert other != first
    assert sum(other[k] != first[k] for k in first) > 50
    engine.dispose()


def test_no_assignment_without_study_or_consent(tmp_path):
    engine, factory, settings = _database(tmp_path / "n.sqlite3")
    with factory() as db:
        undecided = Student(student_id="u", name="U")
        decliner = Student(student_id="d", name="D", consented=False, consent_version=1)
        bot = Student(student_id="bot:rule-based", name="Bot", role="bot", consented=True, consent_version=1)
        db.add_all([undecided, decliner, bot])
        db.flush()
        assert study.ensure_assignment(db, undecided, settings) is None  # no study yet
        _enable(db, settings)
        assert study.next_step(db, undecided, settings) == "/consent"
        assert study.next_step(db, decliner, settings) == "/survey"
        for student in (undecided, decliner, bot):
            assert study.ensure_assignment(db, student, settings) is None
            assert study.condition_of(db, student) is None
        assert db.scalar(select(Assignment.id)) is None
    engine.dispose()


def test_choose_arm_takes_the_smallest_hash_among_the_emptiest():
    key = {arm: study.arm_key("s", "p_1", arm) for arm in ARMS}
    assert study.choose_arm(ARMS, {}, "s", "p_1") == min(ARMS, key=key.get)
    assert study.choose_arm(ARMS, {"control": 1, "tip": 1}, "s", "p_1") == "suggestion"


# ----------------------------------------------------------------------------- hints


def _run(db, epochs: list[tuple], kinds: list[str] | None = None, status: str = READY, lr: float = 0.1) -> Run:
    """A run with one stored action per entry of ``kinds`` (default: initial + continues), epochs from ``epochs``."""
    student = Student(student_id="h", name="H")
    dataset = DatasetRecord(family="blobs", seed=0, size="tiny", num_classes=4, input_shape=[24], train_examples=10,
                            val_examples=10, test_examples=10)
    db.add_all([student, dataset])
    db.flush()
    config = {"width": 64, "depth": 4, "lr": lr, "weight_decay": 0.0, "dropout": 0.0}
    run = Run(student_pk=student.id, dataset_id=dataset.id, seed=0, status=status, initial_config=dict(config),
              config=dict(config))
    db.add(run)
    db.flush()
    kinds = kinds or ["initial"] + ["continue"] * (len(epochs) - 1)
    queue = list(epochs)
    path: list[EpochRecord] = []
    for index, kind in enumerate(kinds, start=1):
        action = ActionRecord(run_id=run.id, index=index, kind=kind, choices={}, shown={}, status="done")
        db.add(action)
        db.flush()
        if kind in ("initial", "continue") and queue:
            train_loss, train_acc, val_loss, val_acc = queue.pop(0)
            number = (path[-1].number if path else 0) + 1
            epoch = EpochRecord(run_id=run.id, action_id=action.id, number=number, config=dict(config),
                                train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc,
                                diverged=not math.isfinite(train_loss), seconds=0.1)
            db.add(epoch)
            path.append(epoch)
        elif kind == "revert":
            path.pop().reverted = True
    run.epoch = path[-1].number if path else 0
    run.actions_used = len(kinds)
    run.consecutive_reverts = 1 if kinds[-1] == "revert" else 0
    run.best_val_acc = max((e.val_acc for e in path), default=None)
    db.flush()
    return run


@pytest.fixture
def db(tmp_path):
    engine, factory, _ = _database(tmp_path / "h.sqlite3")
    with factory() as session:
        yield session
    engine.dispose()


def test_no_hint_for_control_or_when_nothing_to_decide(db):
    run = _run(db, [(1.0, 0.5, 1.1, 0.45)])
    assert conditions.hint_for(db, run, None) is None
    assert conditions.hint_for(db, run, "control") is None
    assert conditions.hint_for(db, run, "tip") is not None
    for status in ("queued", "training", "ended", "failed", "configuring"):
        run.status = status
        assert conditions.hint_for(db, run, "tip") is None
        assert conditions.hint_for(db, run, "suggestion") is None


def test_no_hint_before_the_first_epoch(db):
    run = _run(db, [], kinds=["initial"])
    assert run.epoch == 0
    assert conditions.hint_for(db, run, "tip") is None


@pytest.mark.parametrize("epochs, concept", [
    ([(1.0, 0.5, 1.1, 0.45), (float("nan"), 0.1, float("nan"), 0.1)], "divergence"),
    ([(0.5, 0.8, 0.8, 0.70), (0.3, 0.9, 0.9, 0.60)], "overfitting"),
    ([(2.0, 0.30, 2.0, 0.28), (1.99, 0.31, 1.99, 0.29)], "underfitting"),
    ([(0.5, 0.80, 0.6, 0.75), (0.45, 0.82, 0.6, 0.74), (0.44, 0.83, 0.6, 0.745), (0.43, 0.835, 0.6, 0.748)], "plateau"),
    ([(1.0, 0.6, 1.0, 0.55), (0.8, 0.7, 0.85, 0.65)], "lr"),
])
def test_tip_fits_the_curves(db, epochs, concept):
    run = _run(db, epochs)
    hint = conditions.hint_for(db, run, "tip")
    assert hint == {"kind": "tip", "text": conditions.TIPS[concept], "concept": concept}
    from app.runs.info import INFO
    assert hint["concept"] in INFO
    assert conditions.hint_for(db, run, "tip") == hint  # deterministic: recomputed at submit


def test_suggestion_is_the_bots_next_move(db):
    run = _run(db, [(1.0, 0.5, 1.1, 0.45), (float("nan"), 0.1, float("nan"), 0.1)])
    hint = conditions.hint_for(db, run, "suggestion")
    assert hint["kind"] == "suggestion" and hint["action"] == {"kind": "revert", "changes": {}}
    assert hint["text"].startswith("The automatic player would now: Revert")


def test_suggestion_after_a_revert_lowers_the_learning_rate(db):
    run = _run(db, [(1.0, 0.5, 1.1, 0.45), (float("nan"), 0.1, float("nan"), 0.1)],
               kinds=["initial", "continue", "revert"])
    hint = conditions.hint_for(db, run, "suggestion")
    assert hint["action"] == {"kind": "continue", "changes": {"lr": "down"}}
    from engine.config import HyperParams
    from engine.ladders import apply_changes
    lower = apply_changes(HyperParams.from_dict(run.config), {"lr": "down"}).lr
    assert hint["text"] == ("The automatic player would now: Continue with the learning rate one step down "
                            f"(0.1 → {lower:g}).")


def test_suggestion_keeps_going_while_validation_improves(db):
    run = _run(db, [(1.0, 0.5, 1.1, 0.45), (0.8, 0.6, 0.9, 0.55)])
    hint = conditions.hint_for(db, run, "suggestion")
    assert hint["action"] == {"kind": "continue", "changes": {}}
    assert hint["text"] == "The automatic player would now: Continue with the same settings."


# ----------------------------------------------------------------------------- over HTTP


def _study_form(**overrides) -> dict:
    data = {"research_enabled": "on", "consent_text": CONSENT, "arms": ["tip", "suggestion"], "assignment_seed": "class-seed"}
    data.update(overrides)
    return data


def _enable_over_http(player, staff: str = "res1", role: str = "researcher") -> None:
    staff_login(player, staff, role)
    page = player.client.post("/research/study", data=_study_form())
    assert page.status_code == 200 and "Saved." in page.text
    player.client.post("/staff/logout")


def test_research_off_means_no_consent_page(database_url):
    with game(database_url, pool_size=1) as player:
        assert player.login().status_code == 200
        assert player.client.get("/", follow_redirects=False).headers["location"] == "/survey"
        assert player.client.get("/consent", follow_redirects=False).headers["location"] == "/"
        ready_player(player, "s2")
        with player.app.state.session_factory() as db:
            assert db.scalar(select(Assignment.id)) is None


def test_consent_flow_decline_and_agree(database_url):
    with game(database_url, pool_size=1) as player:
        _enable_over_http(player)
        # Agree: consent before the survey, assigned at the survey, condition on the dashboard.
        login = player.client.post("/login", data={"student_id": "s1", "name": "Ada Lovelace"}, follow_redirects=False)
        assert player.client.get(login.headers["location"], follow_redirects=False).headers["location"] == "/consent"
        for gated in ("/survey", "/instructions"):
            assert player.client.get(gated, follow_redirects=False).headers["location"] == "/consent"
        page = player.client.get("/consent")
        assert "We study how people train networks." in page.text and "I agree" in page.text
        assert "I do not agree" in page.text and "Declining changes nothing about playing" in page.text
        assert player.client.post("/consent", data={"answer": "maybe"}).status_code == 422
        agreed = player.client.post("/consent", data={"answer": "agree"}, follow_redirects=False)
        assert agreed.headers["location"] == "/survey"
        assert player.survey().status_code == 200
        with player.app.state.session_factory() as db:
            ada = db.scalar(select(Student).where(Student.student_id == "s1"))
            assert ada.consented is True and ada.consent_version == 1 and ada.consent_at is not None
            condition = study.condition_of(db, ada)
            assert condition in ("tip", "suggestion")
            assert db.scalar(select(Assignment.stratum).where(Assignment.student_pk == ada.id)) == "Less than 6 months"

        # Decline: plays normally, no condition.
        player.client.post("/logout")
        player.login("s2", "Grace Hopper")
        declined = player.client.post("/consent", data={"answer": "decline"}, follow_redirects=False)
        assert declined.headers["location"] == "/survey"
        assert "You have trained 0 networks so far!" in player.survey().text
        start = player.client.post("/runs", follow_redirects=False)
        assert start.status_code == 303 and start.headers["location"] not in ("/consent", "/survey")
        with player.app.state.session_factory() as db:
            grace = db.scalar(select(Student).where(Student.student_id == "s2"))
            assert grace.consented is False and study.condition_of(db, grace) is None
            assert db.scalar(select(Assignment.id).where(Assignment.student_pk == grace.id)) is None

        # The dashboard shows consent and condition; the student page too.
        player.client.post("/logout")
        staff_login(player, "teach1", "instructor")
        dashboard = player.client.get("/instructor").text
        label = conditions.CONDITIONS[condition]["label"]
        assert "Consent" in dashboard and "Condition" in dashboard and label in dashboard
        assert "agreed" in dashboard and "declined" in dashboard
        assert label in player.client.get(f"/instructor/students/{ada.id}").text
        # The instructor may see the study page too, with the balance table.
        study_page = player.client.get("/research/study")
        assert study_page.status_code == 200 and "Assignment balance" in study_page.text
        assert "Less than 6 months" in study_page.text

        # A new consent text asks everyone again.
        assert player.client.post("/research/study", data=_study_form(consent_text="Version two.")).status_code == 200
        with player.app.state.session_factory() as db:
            assert class_settings(db, player.app.state.settings).consent_version == 2
        player.client.post("/staff/logout")
        player.login("s1", "Ada Lovelace")
        assert player.client.get("/", follow_redirects=False).headers["location"] == "/consent"
        assert "Version two." in player.client.get("/consent").text


def test_study_settings_validation(database_url):
    with game(database_url, pool_size=1) as player:
        assert player.client.get("/research/study", follow_redirects=False).status_code in (303, 401)
        ready_player(player)
        assert player.client.get("/research/study").status_code == 403  # students may not
        player.client.post("/logout")
        staff_login(player, "res1", "researcher")
        cases = [
            (_study_form(research_enabled=""), "need research enabled"),
            (_study_form(consent_text=""), "consent text"),
            (_study_form(consent_text="x" * 5001), "at most 5000"),
            (_study_form(arms=["tip"]), "at least 2"),
            (_study_form(arms=["tip", "telepathy"]), "unknown condition"),
            (_study_form(assignment_seed="no spaces please"), "assignment seed"),
        ]
        for data, message in cases:
            page = player.client.post("/research/study", data=data)
            assert page.status_code == 422 and message in page.text, (data, page.status_code)
        with player.app.state.session_factory() as db:
            row = class_settings(db, player.app.state.settings)
            assert not row.research_enabled and row.arms == []
        # Research on without arms: consent only; the seed is made up when left empty.
        assert player.client.post("/research/study", data=_study_form(arms=[], assignment_seed="")).status_code == 200
        with player.app.state.session_factory() as db:
            row = class_settings(db, player.app.state.settings)
            assert row.research_enabled and row.arms == [] and len(row.assignment_seed) >= 12
            assert row.consent_text == CONSENT and row.consent_version == 1


def test_instrument_settings_over_http(database_url):
    with game(database_url, pool_size=1) as player:
        staff_login(player, "teach1", "instructor")
        page = player.client.get("/instructor/settings")
        assert "Research instruments" in page.text and "allow_exact_times" in page.text
        base = {"class_code": "", "pool_size": "1"}
        for predictions, reasons in (("required", "optional"), ("optional", "required"), ("off", "off")):
            saved = player.client.post("/instructor/settings", data={**base, "predictions": predictions, "reasons": reasons,
                                                                      "allow_exact_times": "on"})
            assert saved.status_code == 200
            with player.app.state.session_factory() as db:
                row = class_settings(db, player.app.state.settings)
                assert (row.predictions, row.reasons, row.allow_exact_times) == (predictions, reasons, True)
        bad = player.client.post("/instructor/settings", data={**base, "predictions": "sometimes"})
        assert bad.status_code == 422 and "predictions mode must be one of" in bad.text
        bad = player.client.post("/instructor/settings", data={**base, "reasons": "always"})
        assert bad.status_code == 422 and "reason chips mode" in bad.text
        player.client.post("/instructor/settings", data=base)
        with player.app.state.session_factory() as db:
            assert class_settings(db, player.app.state.settings).allow_exact_times is False


def test_login_keeps_a_scenario_link(database_url):
    with game(database_url, pool_size=1) as player:
        page = player.client.get("/login?next=/s/abc123")
        assert page.status_code == 200
        response = player.client.post("/login", data={"student_id": "s1", "name": "Ada", "next": "/s/abc123"},
                                      follow_redirects=False)
        assert response.headers["location"] == "/s/abc123"
        for unsafe in ("https://evil.example/s/x", "//evil.example", "/instructor", "/s/../instructor", "/s/a b"):
            player.client.post("/logout")
            player.client.get("/login", params={"next": unsafe})
            response = player.client.post("/login", data={"student_id": "s1", "name": "Ada", "next": unsafe},
                                          follow_redirects=False)
            assert response.headers["location"] == "/", unsafe


def test_hint_is_shown_and_recorded(tmp_path):
    with game(f"sqlite:///{tmp_path}/hint.sqlite3", pool_size=1) as player:
        staff_login(player, "res1", "researcher")
        # One arm only would be refused; both arms show a hint, so whichever is drawn shows one.
        assert player.client.post("/research/study", data=_study_form()).status_code == 200
        player.client.post("/staff/logout")
        player.login()
        player.client.post("/consent", data={"answer": "agree"})
        player.survey()
        run_id = player.start()
        player.configure(run_id)
        player.wait_ready(run_id)
        with player.app.state.session_factory() as db:
            run = db.get(Run, run_id)
            condition = study.condition_of(db, db.get(Student, run.student_pk))
            shown = conditions.hint_for(db, run, condition)
        assert shown is not None and shown["kind"] == condition
        page = player.client.get(f"/runs/{run_id}")
        assert "study-hint" in page.text
        player.play_ready(run_id)
        with player.app.state.session_factory() as db:
            record = db.scalar(select(ActionRecord).where(ActionRecord.run_id == run_id, ActionRecord.index == 2))
            assert record.condition == condition and record.hint == shown
