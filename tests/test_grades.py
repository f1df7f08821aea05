"""Grade passback (LTI AGS) against the local platform: a run's end posts the grade, a platform that is down gets it later."""

from __future__ import annotations

import threading

from sqlalchemy import select

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.datasets import jobs as dataset_jobs
from app.datasets.models import JOB_DONE, DatasetRecord
from app.grades import policy
from app.grades.jobs import MAX_RETRY_SECONDS, RETRY
from app.grades.models import GRADE_POST_JOB, PENDING, SENT, SUPERSEDED, GradePost
from app.jobs.models import Job
from app.lti.models import LtiContext
from app.runs.models import Run
from tests.lti_platform import INSTRUCTOR
from tests.services import wait_for
from tests.support.jobs import finished_job_of
from tests.support.lti import launch, play_one_run, register, score_posts, tool_with_player
from tests.webutil import test_settings as settings_for


def posts(app) -> list[GradePost]:
    with app.state.session_factory() as db:
        return list(db.scalars(select(GradePost).order_by(GradePost.id)))


def job_of(app, post: GradePost) -> Job:
    """The job sending ``post``: its tries and last error."""
    with app.state.session_factory() as db:
        return db.scalar(select(Job).where(Job.kind == GRADE_POST_JOB, Job.subject_id == post.id))


def failed_tries(app) -> int:
    """Failed tries of the first post so far (0 while there is none)."""
    found = posts(app)
    return job_of(app, found[0]).retries if found else 0


def course_class(app) -> ClassSettings:
    with app.state.session_factory() as db:
        return db.get(ClassSettings, db.scalar(select(LtiContext.class_id)))


def test_retry_delay_doubles_up_to_an_hour_and_never_gives_up():
    settings = settings_for("sqlite://", grade_retry_seconds=30)
    assert [RETRY.delay(n, settings) for n in (1, 2, 3)] == [30, 60, 120]
    assert RETRY.delay(50, settings) == MAX_RETRY_SECONDS
    assert not RETRY.gives_up_after(10_000) and RETRY.all_errors_transient


def references_done(app, run_id: int) -> bool:
    """The reference players of the run's dataset are measured (its scale is complete)."""
    with app.state.session_factory() as db:
        run = db.get(Run, run_id)
        return db.get(DatasetRecord, run.dataset_id).references_status == JOB_DONE


def all_references_done(app) -> bool:
    """Every dataset's scale is complete (a class prepared before it plays)."""
    with app.state.session_factory() as db:
        statuses = list(db.scalars(select(DatasetRecord.references_status)))
    return bool(statuses) and all(status == JOB_DONE for status in statuses)


def current_grade(app) -> policy.Grade:
    """The grade the game gives the (only) launched student now."""
    with app.state.session_factory() as db:
        student = db.get(Student, db.scalar(select(GradePost)).student_pk)
        return policy.grade_of(db, student, course_class(app))


def test_a_finished_run_posts_its_grade_to_the_course_gradebook(database_url, lms, monkeypatch):
    measured = threading.Event()
    real = dataset_jobs.references.reference_players

    def after_the_run(*args, **kwargs):  # the class plays before the reference players are measured
        measured.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset_jobs.references, "reference_players", after_the_run)
    with tool_with_player(database_url, pool_size=1) as (app, player):
        register(app, lms)
        _, landed, _, _ = launch(player.client, lms, sub="student-7", name="Grace Hopper")
        assert landed.status_code == 303
        run_id = play_one_run(player)
        wait_for(lambda: any(p.status == SENT for p in posts(app)), 30, "the grade to be posted", [])
        (body,) = score_posts(lms)
        assert body["userId"] == "student-7" and body["scoreMaximum"] == 100
        assert body["scoreGiven"] == current_grade(app).score and 0 <= body["scoreGiven"] <= 100
        assert body["activityProgress"] in ("Completed", "InProgress") and body["gradingProgress"] == "FullyGraded"
        assert "over 1 finished run" in body["comment"]
        # The tool asked the platform for a token with the score scope, signed with its own key.
        (token_request,) = [b for p, _, b in lms.received if p == "/token"]
        assert "scope=" in token_request and "lti-ags%2Fscope%2Fscore" in token_request
        (post,) = posts(app)
        job = finished_job_of(app.state.session_factory, GRADE_POST_JOB, post.id)  # SENT is stored just before
        assert (post.status, post.reason, job.status, job.attempts, job.retries) == (SENT, "run ended", "done", 1, 0)

        # The reference players finish: the scale's top may move, so the grade goes again and matches the game.
        measured.set()
        wait_for(lambda: references_done(app, run_id) and all(p.status == SENT for p in posts(app)) and len(posts(app)) == 2,
                 120, "the rescaled grade to be posted", [])
        assert [p.reason for p in posts(app)] == ["run ended", "scale completed"]
        assert score_posts(lms)[-1]["scoreGiven"] == current_grade(app).score


def test_a_platform_that_is_down_gets_the_grade_later(database_url, lms):
    with tool_with_player(database_url, pool_size=1) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-8", name="Alan Turing")
        wait_for(lambda: all_references_done(app), 120, "the pool's reference players", [])  # so one grade, one post
        lms.scores_status = 503
        play_one_run(player)
        wait_for(lambda: failed_tries(app) >= 2, 30, "two failed tries", [])
        (post,) = posts(app)
        assert post.status == PENDING and "503" in (job_of(app, post).last_error or "")

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


def test_on_demand_posts_and_the_completion_rule(database_url, lms):
    with tool_with_player(database_url, pool_size=1) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-9", name="Ada Lovelace")
        wait_for(lambda: all_references_done(app), 120, "the pool's reference players", [])  # no rescaling post
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


def test_a_newer_grade_supersedes_one_not_sent_yet(database_url, lms):
    with tool_with_player(database_url, pool_size=1) as (app, player):
        register(app, lms)
        launch(player.client, lms, sub="student-10", name="Emmy Noether")
        wait_for(lambda: all_references_done(app), 120, "the pool's reference players", [])  # no rescaling post
        lms.scores_status = 503
        play_one_run(player)
        wait_for(lambda: failed_tries(app) >= 1, 30, "a failed try", [])
        run_id = player.start()
        player.configure(run_id)
        player.wait_ready(run_id)
        player.play_ready(run_id, kind="done")
        # The older post is dropped (at once, or once its try in flight has failed); the newer one waits.
        wait_for(lambda: posts(app)[0].status == SUPERSEDED, 30, "the older post to be superseded", [])
        assert len(posts(app)) == 2 and posts(app)[1].status == PENDING
        lms.scores_status = 200
        wait_for(lambda: posts(app)[1].status == SENT, 30, "the newer grade", [])
        assert "over 2 finished runs" in score_posts(lms)[-1]["comment"]
        assert posts(app)[0].status == SUPERSEDED  # never sent after the newer one
