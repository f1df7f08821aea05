"""Sending a grade post to the course's gradebook (a runner's background job), with retries that never give up."""

from __future__ import annotations

import datetime as dt
import logging

from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.db.base import as_utc, utcnow
from app.grades.models import PENDING, SENDING, SENT, SUPERSEDED, GradePost
from app.lti.models import LtiContext, LtiIdentity
from app.lti.services import ags_service

log = logging.getLogger(__name__)

#: Back-off after the n-th failure: the first delay (HYPERQUEST_GRADE_RETRY_SECONDS, 30 s), doubled
#: per failure, at most an hour between tries. A post is never given up on.
MAX_RETRY_SECONDS = 3600.0
ERROR_MAX = 500
#: The gradebook column the tool creates in a course whose launches name none.
LINEITEM_TAG, LINEITEM_LABEL = "hyperquest", "HyperQuest"


def retry_delay(attempts: int, first: float) -> float:
    """Seconds to wait after ``attempts`` failed tries, the first one ``first``."""
    return min(MAX_RETRY_SECONDS, first * 2 ** max(0, attempts - 1))


def _overtaken(db, post: GradePost) -> bool:
    """A newer grade of the same gradebook entry exists: only the newest one is worth sending."""
    return db.scalar(select(GradePost.id).where(GradePost.identity_id == post.identity_id, GradePost.id > post.id)
                     .limit(1)) is not None


def _claim(session_factory: sessionmaker, post_id: int, stale_after: float) -> bool:
    """Mark the post as being sent by this runner; False when it is not due (sent, superseded, or held)."""
    with session_factory() as db:
        post = db.scalar(select(GradePost).where(GradePost.id == post_id).with_for_update())
        if post is None:
            return False
        now = utcnow()
        held = post.status == SENDING and post.heartbeat_at is not None and \
            as_utc(post.heartbeat_at) > now - dt.timedelta(seconds=stale_after)
        due = post.status == PENDING and as_utc(post.next_attempt_at) <= now
        if not (due or (post.status == SENDING and not held)):
            return False
        if _overtaken(db, post):
            post.status = SUPERSEDED
            db.commit()
            return False
        post.status, post.heartbeat_at = SENDING, now
        post.attempts += 1
        db.commit()
        return True


def send_post(session_factory: sessionmaker, post_id: int, first_retry: float = 30.0, stale_after: float = 120.0) -> str:
    """Post one score (AGS); on any failure it goes back to pending with a later due time. Returns the new status."""
    if not _claim(session_factory, post_id, stale_after):
        return "not due"
    with session_factory() as db:
        post = db.get(GradePost, post_id)
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
            # Unless a newer grade for the same entry was planned meanwhile: that one is sent instead.
            post.status = SUPERSEDED if _overtaken(db, post) else PENDING
            post.next_attempt_at = utcnow() + dt.timedelta(seconds=retry_delay(post.attempts, first_retry))
            post.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
            db.commit()
            log.warning("grade post %s failed (attempt %s): %s", post_id, post.attempts, post.last_error)
            return PENDING
        post.status, post.sent_at, post.last_error = SENT, utcnow(), None
        db.commit()
        return SENT
