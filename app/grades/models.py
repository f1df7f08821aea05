"""Tables of the grades domain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow

# GradePost.status values: waiting to be sent (or to be retried: its job's back-off), in the
# gradebook, replaced by a newer score for the same player before it was sent.
PENDING, SENT, SUPERSEDED = "pending", "sent", "superseded"
#: The job kind that sends a post (app.grades.jobs); its tries, next time and last error live in app.jobs.
GRADE_POST_JOB = "grade_post"


class GradePost(Base):
    """One score to post to a course's gradebook; a failed post stays pending and is retried, never dropped."""

    __tablename__ = "grade_posts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The launched user (app.lti.models.LtiIdentity) whose gradebook entry this is.
    identity_id: Mapped[int] = mapped_column(ForeignKey("lti_identities.id", ondelete="CASCADE"), index=True)
    student_pk: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    score_given: Mapped[float] = mapped_column(Float)
    score_maximum: Mapped[float] = mapped_column(Float)
    comment: Mapped[str] = mapped_column(String(500))
    #: "run ended" or "on demand".
    reason: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
