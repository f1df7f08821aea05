"""Baselines and the bot's stored run, leaderboards, the instructor dashboard and class settings."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.classroom.service import allowed_families
from app.datasets.models import DatasetRecord
from app.instructor.replay import replay_steps
from app.leaderboard.service import overall, per_dataset
from app.runs.models import ActionRecord, EpochRecord, Run
from app.runs.view import chart_series
from tests.support.players import ready_player, staff_login
from tests.webutil import game


def finished_run(player, **knobs) -> int:
    run_id = player.start()
    player.configure(run_id, **knobs)
    player.wait_ready(run_id)
    player.play_ready(run_id)
    player.play_ready(run_id, "revert")
    player.play_ready(run_id)
    assert player.act(run_id, "done").status_code == 303
    return run_id


def test_baselines_are_real_and_the_bot_run_is_stored_like_a_players(database_url):
    with game(database_url, pool_size=1, baseline_epochs=3) as player:
        ready_player(player)
        run_id = player.start()  # waits until the pool dataset has all three baselines
        with player.app.state.session_factory() as db:
            dataset = db.get(DatasetRecord, player.run(run_id).dataset_id)
            assert dataset.baseline_status == "done"
            for value in (dataset.baseline_default, dataset.baseline_linear, dataset.baseline_bot):
                assert 0.0 < value <= 1.0
            bot_run = db.get(Run, dataset.bot_run_id)
            bot = db.get(Student, bot_run.student_pk)
            assert bot.role == "bot" and bot_run.status == "ended"
            assert bot_run.best_val_acc == dataset.baseline_bot
            # Stored like a player's: actions with what was shown, one epoch per trained action, a test accuracy.
            actions = list(db.scalars(select(ActionRecord).where(ActionRecord.run_id == bot_run.id).order_by(ActionRecord.index)))
            assert actions[0].kind == "initial" and actions[-1].kind == "done"
            trained = [a for a in actions if a.kind in ("initial", "continue")]
            assert db.scalar(select(func.count()).select_from(EpochRecord).where(EpochRecord.run_id == bot_run.id)) == len(trained)
            assert bot_run.epoch == 3 and 0.0 < bot_run.test_acc <= 1.0
            assert all("val_acc" in a.shown for a in actions)
        # The result page lists all three baselines; the bot does not appear as a player.
        player.configure(run_id)
        player.wait_ready(run_id)
        player.act(run_id, "done")
        page = player.client.get(f"/runs/{run_id}/result").text
        assert "Linear classifier" in page and "Automatic player" in page
        assert "Bot (" not in player.client.get("/leaderboard").text.split("Overall")[1].split("Dataset")[0]


def test_normalised_score():
    from engine.scale import scale_for

    scale = scale_for(4, 400, {"default": 0.5, "linear": 0.3, "bot": 0.75})
    assert scale.normalised(0.5) == pytest.approx(0.5)  # (0.5 - 0.25) / (0.75 - 0.25)
    assert scale.normalised(0.25) == 0.0 and scale.normalised(0.75) == 1.0
    assert scale.normalised(0.95) > 1.0
    assert scale.normalised(None) is None
    assert scale_for(4, 400, {"default": None, "bot": None}) is None


def test_leaderboard_order_and_normalisation(database_url):
    with game(database_url) as player:
        factory = player.app.state.session_factory
        with factory() as db:
            easy = DatasetRecord(family="shapes", seed=901, size="tiny", num_classes=4, input_shape=[3, 32, 32],
                                 train_examples=1, val_examples=400, test_examples=1, baseline_status="done",
                                 baseline_default=0.80, baseline_linear=0.5, baseline_bot=0.90)
            hard = DatasetRecord(family="teacher", seed=902, size="tiny", num_classes=4, input_shape=[3, 32, 32],
                                 train_examples=1, val_examples=400, test_examples=1, baseline_status="done",
                                 baseline_default=0.30, baseline_linear=0.2, baseline_bot=0.50)
            ann, bob, cy = (Student(student_id=s, name=n) for s, n in (("a1", "Ann"), ("b1", "Bob"), ("c1", "Cy")))
            db.add_all([easy, hard, ann, bob, cy])
            db.flush()

            def ended(student, dataset, score):
                db.add(Run(student_pk=student.id, dataset_id=dataset.id, seed=0, status="ended", initial_config={},
                           config={}, best_val_acc=score))

            # Chance is 0.25 (4 classes); the top is the bot on both: 0.90 (easy) and 0.50 (hard).
            ended(ann, easy, 0.85)   # 0.60 / 0.65 on the easy dataset
            ended(ann, easy, 0.82)   # a worse second run does not count
            ended(bob, hard, 0.50)   # 1.0 on the hard one: matched the bot
            ended(cy, easy, 0.95)    # 0.70 / 0.65: beat the bot
            ended(cy, hard, 0.30)    # 0.05 / 0.25 = 0.2
            db.commit()
            boards = {b["dataset"].family: b for b in per_dataset(db)}
            rows = overall(db)
        easy_board = boards["shapes"]
        assert [e["name"] for e in easy_board["entries"]] == ["Cy", "Ann"]
        assert [e["rank"] for e in easy_board["entries"]] == [1, 2]
        assert easy_board["entries"][1]["normalised"] == pytest.approx(0.60 / 0.65)
        # Players and baselines side by side, best first.
        assert [r["name"] for r in easy_board["rows"]] == ["Cy", "Automatic player (rule-based bot)", "Ann",
                                                           "Default schedule", "Linear classifier"]
        assert [(r["name"], round(r["score"], 3), r["datasets"]) for r in rows] == [
            ("Bob", 1.0, 1), ("Ann", 0.923, 1), ("Cy", round((0.70 / 0.65 + 0.2) / 2, 3), 2)]
        page = player.client.get("/leaderboard").text
        assert "normalised score" in page and "Updated live" in page


def test_students_and_researchers_get_403_on_instructor_pages(database_url):
    with game(database_url) as player:
        paths = ["/instructor", "/instructor/students/1", "/instructor/runs/1/replay", "/instructor/runs/1/replay.json",
                 "/instructor/settings", "/instructor/standings.csv"]
        for path in paths:  # anonymous: sent to the staff login
            response = player.client.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"] == "/staff/login", path
        ready_player(player)
        for path in paths:
            assert player.client.get(path).status_code == 403, path
        assert player.client.post("/instructor/settings", data={"pool_size": "3"}).status_code == 403
        player.client.post("/logout")
        staff_login(player, "res1", "researcher")
        for path in paths:
            assert player.client.get(path).status_code == 403, path


def test_wrong_staff_password_is_one_message(database_url):
    with game(database_url) as player:
        staff_login(player, "prof1", "instructor")
        player.client.post("/staff/logout")
        wrong = player.client.post("/staff/login", data={"username": "prof1", "password": "nope-nope-nope"})
        unknown = player.client.post("/staff/login", data={"username": "nobody", "password": "nope-nope-nope"})
        assert wrong.status_code == unknown.status_code == 401
        assert "Unknown username or wrong password." in wrong.text and "Unknown username or wrong password." in unknown.text


def test_dashboard_replay_and_standings(database_url):
    with game(database_url, pool_size=1) as player:
        ready_player(player, "s1")
        run_id = finished_run(player)
        player.client.post("/logout")
        staff_login(player, "prof", "instructor")
        page = player.client.get("/instructor")
        assert page.status_code == 200
        assert "Ada Lovelace" in page.text and "100%" in page.text  # one run, finished
        with player.app.state.session_factory() as db:
            student_pk = player.run(run_id).student_pk
            steps = replay_steps(db, db.get(Run, run_id))
            epochs = list(db.scalars(select(EpochRecord).where(EpochRecord.run_id == run_id).order_by(EpochRecord.id)))
        assert "Replay" in player.client.get(f"/instructor/students/{student_pk}").text
        # initial, continue, revert, continue, done: the curves before each action, rebuilt by replaying.
        assert [s["kind"] for s in steps] == ["initial", "continue", "revert", "continue", "done"]
        assert steps[0]["series"]["epochs"] == []
        assert steps[2]["series"]["epochs"] == [1, 2]              # before the revert
        assert steps[3]["series"]["epochs"] == [1]                 # after it: epoch 2 is shown as reverted
        assert steps[3]["series"]["reverted"][0]["epoch"] == 2
        assert steps[4]["series"] == chart_series(epochs)          # before Done: what the training page drew
        assert steps[1]["seconds_since_previous"] is not None
        replay = player.client.get(f"/instructor/runs/{run_id}/replay")
        assert replay.status_code == 200 and "Automatic player" in replay.text
        data = player.client.get(f"/instructor/runs/{run_id}/replay.json").json()
        assert len(data["player"]) == 5 and data["bot"][0]["kind"] == "initial"
        rows = list(csv.reader(io.StringIO(player.client.get("/instructor/standings.csv").text)))
        assert rows[0][:3] == ["rank", "student_id", "name"] and rows[1][1:3] == ["s1", "Ada Lovelace"]
        assert player.client.get("/instructor/runs/999/replay").status_code == 404


def test_class_settings_code_pool_and_test_accuracy(database_url):
    with game(database_url, pool_size=1) as player:
        ready_player(player, "s1")
        run_id = finished_run(player)
        assert "hidden test split" not in player.client.get(f"/runs/{run_id}/result").text
        player.client.post("/logout")
        staff_login(player, "prof", "instructor")
        bad = player.client.post("/instructor/settings", data={"pool_size": "0"})
        assert bad.status_code == 422 and "pool size" in bad.text
        bad = player.client.post("/instructor/settings", data={"pool_size": "2", "families": "nosuch"})
        assert bad.status_code == 422 and "unknown dataset families" in bad.text
        page = player.client.get("/instructor/settings").text
        assert 'value="shapes"' in page and 'value="teacher"' not in page and 'value="motifs"' not in page  # playable only
        bad = player.client.post("/instructor/settings", data={"pool_size": "2", "families": ["shapes", "teacher"]})
        assert bad.status_code == 422 and "not offered to classes" in bad.text and "teacher" in bad.text
        saved = player.client.post("/instructor/settings", data={"class_code": "ML-2026", "pool_size": "2",
                                                                 "families": ["clusters"], "reveal_test_accuracy": "on"})
        assert saved.status_code == 200 and "Saved" in saved.text
        player.client.post("/staff/logout")
        # The class code is now required at login.
        assert "Class code" in player.client.get("/login").text
        wrong = player.client.post("/login", data={"student_id": "s2", "name": "Bo", "class_code": "nope"})
        assert wrong.status_code == 422 and "not this class" in wrong.text
        assert player.login("s1").status_code == 422  # no code given
        ok = player.client.post("/login", data={"student_id": "s1", "name": "Ada Lovelace", "class_code": "ml-2026"})
        assert ok.status_code == 200
        # Test accuracy is revealed now; new runs draw from clusters only.
        result = player.client.get(f"/runs/{run_id}/result").text
        assert "hidden test split" in result
        new_run = player.start()
        with player.app.state.session_factory() as db:
            assert db.get(DatasetRecord, player.run(new_run).dataset_id).family == "clusters"
            assert player.run(run_id).test_acc is not None


def test_a_family_chosen_before_it_was_retired_is_not_played():
    # A class that chose teacher (when it was offered) plays the rest of its choice, or every playable family.
    assert allowed_families(ClassSettings(allowed_families=["teacher", "shapes"])) == ["shapes"]
    assert allowed_families(ClassSettings(allowed_families=["teacher"])) == ["clusters", "shapes", "textures"]
    assert allowed_families(ClassSettings(allowed_families=[])) == ["clusters", "shapes", "textures"]
    assert allowed_families(ClassSettings(allowed_families=["motifs", "clusters"])) == ["clusters"]  # retired too
