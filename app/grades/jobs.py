"""The grade-post job: one score sent to a course's gradebook, in the I/O lane, with retries that never give up.

Posting is network I/O, so it runs on the web process's I/O lane (app.jobs.runners.io_lane), never
behind an epoch or a baseline. Any failure (the platform down, a refused token, a timeout) is
retried after HYPERQUEST_GRADE_RETRY_SECONDS, doubling up to an hour, forever; a newer grade for
the same gradebook entry supersedes one not sent yet, so an old score is never sent after a newer one.
"""

from __future__ import annotations

import logging

from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.accounts.models import Student
from app.classroom.service import SETTINGS_ID
from app.db.base import as_utc, utcnow
from app.grades.models import GRADE_POST_JOB, PENDING, SENT, SUPERSEDED, GradePost
from app.jobs.context import JobContext
from app.jobs.lanes import IO
from app.jobs.registry import RetryPolicy, Subject, job_kind
from app.lti.models import LtiContext, LtiIdentity
from app.lti.services import ags_service

log = logging.getLogger(__name__)

#: Back-off after the n-th failure: HYPERQUEST_GRADE_RETRY_SECONDS (30 s) doubled per failure, at
#: most an hour between tries; never given up (a runner dying mid-post does not count either).
MAX_RETRY_SECONDS = 3600.0
RETRY = RetryPolicy(max_attempts=10**6, max_retries=None, first_delay_setting="grade_retry_seconds",
                    max_delay=MAX_RETRY_SECONDS, all_errors_transient=True)
#: The gradebook column the tool creates in a course whose launches name none.
LINEITEM_TAG, LINEITEM_LABEL = "hyperquest", "HyperQuest"


class GradePostFailed(Exception):
    """The gradebook did not take the score; the job tries again later."""


def _overtaken(db: Session, post: GradePost) -> bool:
    """A newer grade of the same gradebook entry exists: only the newest one is worth sending."""
    return db.scalar(select(GradePost.id).where(GradePost.identity_id == post.identity_id, GradePost.id > post.id)
                     .limit(1)) is not None


def _describe(db: Session, post_id: int) -> Subject:
    row = db.execute(select(Student.name, Student.class_id).join(GradePost, GradePost.student_pk == Student.id)
                     .where(GradePost.id == post_id)).first()
    if row is None:
        return Subject(f"grade post {post_id} (deleted)")
    return Subject(f"grade of {row[0]} for the gradebook", row[1] or SETTINGS_ID)


@job_kind(GRADE_POST_JOB, IO, label="grade posts to the LMS", retry=RETRY, describe=_describe)
def grade_post_job(ctx: JobContext, post_id: int) -> None:
    """Send one pending grade post (raises GradePostFailed to be retried later)."""
    send_post(ctx.session_factory, post_id)


def send_post(session_factory: sessionmaker, post_id: int) -> str:
    """Post one score (AGS) and return the post's new status; raises GradePostFailed when the gradebook did not take it."""
    with session_factory() as db:
        post = db.get(GradePost, post_id)
        if post is None or post.status != PENDING:
            return "not pending"
        if _overtaken(db, post):
            post.status = SUPERSEDED
            db.commit()
            return SUPERSEDED
        identity = db.get(LtiIdentity, post.identity_id)
        context = db.get(LtiContext, identity.context_id)
        try:
            grade = (Grade().set_score_given(post.score_given).set_score_maximum(post.score_maximum)
                     .set_activity_progress("Completed" if post.score_given >= post.score_maximum else "InProgress")
                     .set_grading_progress("FullyGraded").set_user_id(identity.subject).set_comment(post.comment)
                     .set_timestamp(as_utc(post.created_at)
                                    .isoformat(timespec="milliseconds")))
            service = ags_service(db, context)
            if (context.ags or {}).get("lineitem"):
                service.put_grade(grade)  # the column the course linked the tool to
            else:  # a launch without its own column: the tool's column, found by its tag or created once
                service.put_grade(grade, LineItem().set_tag(LINEITEM_TAG).set_label(LINEITEM_LABEL)
                                  .set_score_maximum(post.score_maximum))
        except Exception as exc:  # a platform down, a refused token, a timeout: all retried later
            if _overtaken(db, post):  # unless a newer grade for the same entry was planned meanwhile
                post.status = SUPERSEDED
                db.commit()
                return SUPERSEDED
            raise GradePostFailed(f"{type(exc).__name__}: {exc}") from exc
        post.status, post.sent_at = SENT, utcnow()
        db.commit()
        return SENT
