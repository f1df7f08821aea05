"""Grade passback (LTI AGS) against the local platform: a run's end posts the grade, a platform that is down gets it later."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from app.classroom.models import ClassSettings
from app.factory import create_app
from app.grades import policy
from app.grades.jobs import MAX_RETRY_SECONDS, retry_delay
from app.grades.models import PENDING, SENT, SUPERSEDED, GradePost
from app.lti.models import LtiContext
from tests.lti_platform import INSTRUCTOR, Platform
from tests.services import wait_for
from tests.test_lti import launch, lms, register  # noqa: F401  (lms: a fixture)
from tests.webutil import GameTestClient, Player
from tests.webutil import test_settings as settings_for


@contextmanager
def tool(database_url: str, **overrides):
    """The app over HTTPS with quick grade retries, and a Player bound to it."""
    app = create_app(settings_for(database_url, grade_retry_seconds=0.5, **overrides))
    with GameTestClient(app, base_url="https://testserver") as client:
        yield app, Player(client, app)


def score_posts(platform: Platform) -> list[dict]:
    """The score bodies the platform received (its gradebook), oldest first."""
    return [json.loads(body) for path, _, body in platform.received if path.endswith("/scores")]


def play_one_run(player: Player) -> int:
    """Survey, one trained epoch, Done; returns the run id."""
    assert player.survey().status_code == 200
    run_id = player.start()
    assert player.configure(run_id).status_code == 303
    player.wait_ready(run_id)
    player.play_ready(run_id, kind="done")
    return run_id


def posts(app) -> list[GradePost]:
    with app.state.session_factory() as db:
        return list(db.scalars(select(GradePost).order_by(GradePost.id)))


def course_class(app) -> ClassSettings:
    with app.state.session_factory() as db:
        return db.get(ClassSettings, db.scalar(select(LtiContext.class_id)))


def test_retry_delay_doubles_up_to_an_hour():
    assert [retry_delay(n, 30) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(50, 30) == MAX_RETRY_SECONDS


def test_a_finished_run_posts_its_grade_to_the_course_gradebook(database_url, lms):  # noqa: F811
    with tool(database_url) as (app, player):
        register(app, lms)
        _, landed, _, _ = launch(player.client, lms, sub="student-7", name="Grace Hopper")
        assert landed.status_code == 303
        run_id = play_one_run(player)
        wait_for(lambda: any(p.status == SENT for p in posts(app)), 30, "the grade to be posted", [])
        (body,) = score_posts(lms)
        with app.state.session_factory() as db:
            student = db.scalar(select(GradePost)).student_pk
            from app.accounts.models import Student
            expected = policy.grade_of(db, db.get(Student, student), course_class(app))
        assert body["userId"] == "student-7" and body["scoreMaximum"] == 100
        assert body["scoreGiven"] == expected.score and 0 <= expected.score <= 100
        assert body["activityProgress"] in ("Completed", "InProgress") and body["gradingProgress"] == "FullyGraded"
        assert "over 1 finished run" in body["comment"]
        # The tool asked the platform for a token with the score scope, signed with its own key.
        (token_request,) = [b for p, _, b in lms.received if p == "/token"]
        assert "scope=" in token_request and "lti-ags%2Fscope%2Fscore" in token_request
        (post,) = posts(app)
        assert (post.status, post.attempts, post.reason) == (SENT, 1, "run ended")
        assert run_id


def test_a_platform_that_is_down_gets_the_grade_later(database_url, lms):  # noqa: F811
    with tool(database_url) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-8", name="Alan Turing")
        lms.scores_status = 503
        play_one_run(player)
        wait_for(lambda: (lambda p: bool(p) and p[0].attempts >= 2)(posts(app)), 30, "two failed tries", [])
        (post,) = posts(app)
        assert post.status in (PENDING, "sending") and "503" in (post.last_error or "")

        # The course's instructor sees the post waiting, with its error.
        player.client.cookies.clear()
        _, landed, _, _ = launch(player.client, lms, sub="teacher-1", roles=[INSTRUCTOR], name="Prof X")
        assert landed.headers["location"] == "/instructor"
        dashboard = player.client.get("/instructor")
        assert "Posts that failed and will be retried" in dashboard.text and "Alan Turing" in dashboard.text

        lms.scores_status = 200
        wait_for(lambda: posts(app)[0].status == SENT, 30, "the retried post to go through", [])
        assert score_posts(lms)[-1]["userId"] == "student-8"
        assert "0 waiting" not in dashboard.text  # the page above was rendered while it waited
        assert "<strong>0</strong> waiting" in player.client.get("/instructor").text


def test_on_demand_posts_and_the_completion_rule(database_url, lms):  # noqa: F811
    with tool(database_url) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-9", name="Ada Lovelace")
        play_one_run(player)
        wait_for(lambda: any(p.status == SENT for p in posts(app)), 30, "the first grade", [])

        player.client.cookies.clear()
        launch(player.client, lms, sub="teacher-2", roles=[INSTRUCTOR], name="Prof Y")
        settings_page = player.client.post("/instructor/settings", data={
            "pool_size": str(course_class(app).pool_size), "grade_mode": "completion", "grade_runs": "4"})
        assert settings_page.status_code == 200 and "Saved" in settings_page.text
        refused = player.client.post("/instructor/settings", data={"pool_size": "2", "grade_runs": "0"})
        assert refused.status_code == 422 and "between 1 and" in refused.text
        posted = player.client.post("/instructor/grades", follow_redirects=False)
        assert posted.status_code == 303 and posted.headers["location"].startswith("/instructor?posted=1")
        wait_for(lambda: len([p for p in posts(app) if p.status == SENT]) == 2, 30, "the on-demand grade", [])
        latest = score_posts(lms)[-1]
        assert latest["scoreGiven"] == 25.0 and latest["comment"] == "1 finished run of 4 required"
        assert posts(app)[-1].reason == "on demand"


def test_a_newer_grade_supersedes_one_not_sent_yet(database_url, lms):  # noqa: F811
    with tool(database_url) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-10", name="Emmy Noether")
        lms.scores_status = 503
        play_one_run(player)
        wait_for(lambda: bool(posts(app)) and posts(app)[0].attempts >= 1, 30, "a failed try", [])
        run_id = player.start()
        player.configure(run_id)
        player.wait_ready(run_id)
        player.play_ready(run_id, kind="done")
        # The older post is dropped (at once, or once its try in flight has failed); the newer one waits.
        wait_for(lambda: posts(app)[0].status == SUPERSEDED, 30, "the older post to be superseded", [])
        assert len(posts(app)) == 2 and posts(app)[1].status in (PENDING, "sending")
        lms.scores_status = 200
        wait_for(lambda: posts(app)[1].status == SENT, 30, "the newer grade", [])
        assert "over 2 finished runs" in score_posts(lms)[-1]["comment"]
        assert posts(app)[0].status == SUPERSEDED  # never sent after the newer one
