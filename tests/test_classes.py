"""Each LMS course is its own class: its own players, settings, dashboard and leaderboard, apart from the default class."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.lti.models import LtiContext
from app.research import export
from tests.lti_platform import INSTRUCTOR
from tests.support.lti import launch, play_one_run, register, tool_with_player
from tests.support.players import staff_login
from tests.webutil import Player


def as_lms_user(player: Player, platform, sub: str, course: str, name: str, roles=None) -> None:
    player.client.cookies.clear()
    _, landed, _, _ = launch(player.client, platform, sub=sub, context_id=course, name=name,
                             **({"roles": roles} if roles else {}))
    assert landed.status_code == 303


def test_courses_and_the_default_class_are_kept_apart(database_url, lms):
    with tool_with_player(database_url) as (app, player):
        register(app, lms)
        as_lms_user(player, lms, "s-a", "course-A", "Alice Course-A")
        play_one_run(player)
        as_lms_user(player, lms, "s-b", "course-B", "Bob Course-B")
        play_one_run(player)
        player.client.cookies.clear()
        assert player.login("d1", "Dora Default").status_code == 200
        play_one_run(player)
        with app.state.session_factory() as db:
            classes = {c.context_id: c.class_id for c in db.scalars(select(LtiContext))}
            students = {s.name: s for s in db.scalars(select(Student).where(Student.role != "bot"))}
        assert students["Dora Default"].class_id is None and classes["course-A"] != classes["course-B"]

        # Each player's leaderboard shows their own class only.
        board = player.client.get("/leaderboard").text
        assert "Dora Default" in board and "Alice Course-A" not in board and "Bob Course-B" not in board
        as_lms_user(player, lms, "s-a", "course-A", "Alice Course-A")
        board = player.client.get("/leaderboard").text
        assert "Alice Course-A" in board and "Bob Course-B" not in board and "Dora Default" not in board

        # Course A's instructor sees course A's players, and a player of another class is a 404.
        as_lms_user(player, lms, "t-a", "course-A", "Prof A", roles=[INSTRUCTOR])
        dashboard = player.client.get("/instructor").text
        assert "Alice Course-A" in dashboard and "Bob Course-B" not in dashboard and "Dora Default" not in dashboard
        assert player.client.get(f"/instructor/students/{students['Alice Course-A'].id}").status_code == 200
        assert player.client.get(f"/instructor/students/{students['Bob Course-B'].id}").status_code == 404
        standings = player.client.get("/instructor/standings.csv").text
        assert "Alice Course-A" in standings and "Bob Course-B" not in standings

        # Course A's settings change course A only.
        saved = player.client.post("/instructor/settings", data={"pool_size": "3", "class_code": ""})
        assert saved.status_code == 200
        with app.state.session_factory() as db:
            assert db.get(ClassSettings, classes["course-A"]).pool_size == 3
            assert db.get(ClassSettings, classes["course-B"]).pool_size == app.state.settings.pool_size
            assert db.get(ClassSettings, 1).pool_size == app.state.settings.pool_size

        # The default class's instructor (a staff account) sees the default class only.
        staff_login(player, "prof_default", "instructor")
        dashboard = player.client.get("/instructor").text
        assert "Dora Default" in dashboard and "Alice Course-A" not in dashboard

        # The research export holds every class, with each participant's class.
        with app.state.session_factory() as db:
            rows = export.build_tables(db, app.state.settings.pseudonym_key)["participants"]
        assert sorted(r["class_id"] for r in rows) == sorted([1, classes["course-A"], classes["course-B"]])


@pytest.mark.parametrize("research_in", ["course", "default"])
def test_a_study_in_one_class_asks_for_consent_there_only(database_url, lms, research_in):
    with tool_with_player(database_url) as (app, player):
        register(app, lms)
        as_lms_user(player, lms, "s-c", "course-C", "Carla Course-C")
        with app.state.session_factory() as db:
            course_class = db.scalar(select(LtiContext.class_id))
            row = db.get(ClassSettings, course_class if research_in == "course" else 1)
            if row is None:
                row = ClassSettings(id=1, class_code=None, pool_size=1, allowed_families=[], reveal_test_accuracy=False)
                db.add(row)
            row.research_enabled, row.consent_text, row.consent_version = True, "Study text", 1
            db.commit()
        course_home = player.client.get("/", follow_redirects=False).headers["location"]
        player.client.cookies.clear()
        player.login("d2", "Dan Default")
        default_home = player.client.get("/", follow_redirects=False).headers["location"]
        expected = ("/consent", "/survey") if research_in == "course" else ("/survey", "/consent")
        assert (course_home, default_home) == expected
