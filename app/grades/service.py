"""Planning grade posts: when a player's run ends, and when an instructor asks; and what the dashboard shows."""

from __future__ import annotations

import dataclasses

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.models import BOT_ROLE, Student
from app.classroom.models import ClassSettings
from app.classroom.service import class_id_of
from app.grades import policy
from app.grades.models import GRADE_POST_JOB, PENDING, SENT, SUPERSEDED, GradePost
from app.jobs.models import Job
from app.jobs.queue import enqueue
from app.lti.models import LtiContext, LtiIdentity
from app.runs.models import ENDED, Run

#: The AGS scope a tool needs to post scores.
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
RUN_ENDED, ON_DEMAND, RESCALED = "run ended", "on demand", "scale completed"


def gradable_identities(db: Session, student: Student) -> list[LtiIdentity]:
    """The player's launched identities whose course accepts scores (an AGS claim with the score scope)."""
    rows = db.execute(
        select(LtiIdentity, LtiContext).join(LtiContext, LtiContext.id == LtiIdentity.context_id)
        .where(LtiIdentity.student_pk == student.id)
    )
    return [identity for identity, context in rows if context.ags and SCORE_SCOPE in (context.ags.get("scope") or [])]


def plan_posts(db: Session, student: Student, row: ClassSettings, reason: str) -> list[GradePost]:
    """New pending posts of the player's current grade (one per gradable identity); older pending ones are superseded.

    Only the newest score matters to the gradebook, so an older post that has not gone out yet
    is not sent at all; one being sent right now finishes and is then overtaken by this one.
    """
    identities = gradable_identities(db, student)
    if not identities:
        return []
    grade = policy.grade_of(db, student, row)
    posts = []
    for identity in identities:
        db.execute(update(GradePost).where(GradePost.identity_id == identity.id, GradePost.status == PENDING)
                   .values(status=SUPERSEDED))
        post = GradePost(identity_id=identity.id, student_pk=student.id, score_given=grade.score,
                         score_maximum=grade.maximum, comment=grade.comment, reason=reason, status=PENDING)
        db.add(post)
        posts.append(post)
    db.flush()
    for post in posts:
        enqueue(db, GRADE_POST_JOB, post.id)
    return posts


def plan_for_class(db: Session, row: ClassSettings) -> list[GradePost]:
    """Posts of every launched student of the class (the dashboard's "post grades now")."""
    students = db.scalars(
        select(Student).join(LtiIdentity, LtiIdentity.student_pk == Student.id)
        .join(LtiContext, LtiContext.id == LtiIdentity.context_id)
        .where(LtiContext.class_id == row.id).distinct()
    )
    return [post for student in list(students) for post in plan_posts(db, student, row, ON_DEMAND)]


@dataclasses.dataclass(frozen=True)
class PassbackSummary:
    """What the dashboard says about the class's grade posts."""

    sent: int
    waiting: int
    #: {"post": GradePost, "name": the student's name, "job": its Job (tries, next time, last error)} for
    #: posts that failed at least once.
    retrying: list[dict]


def summary(db: Session, row: ClassSettings) -> PassbackSummary:
    """Counts of the class's posts, and the ones that failed at least once and wait for a retry."""
    in_class = (select(LtiIdentity.id).join(LtiContext, LtiContext.id == LtiIdentity.context_id)
                .where(LtiContext.class_id == row.id))
    counts = dict(db.execute(select(GradePost.status, func.count()).where(GradePost.identity_id.in_(in_class))
                             .group_by(GradePost.status)).all())
    retrying = [{"post": post, "name": name, "job": job} for post, name, job in db.execute(
        select(GradePost, Student.name, Job).join(Student, Student.id == GradePost.student_pk)
        .join(Job, (Job.kind == GRADE_POST_JOB) & (Job.subject_id == GradePost.id))
        .where(GradePost.identity_id.in_(in_class), GradePost.status == PENDING, Job.retries > 0)
        .order_by(GradePost.id))]
    return PassbackSummary(counts.get(SENT, 0), counts.get(PENDING, 0), retrying)


def plan_for_ended_run(db: Session, run) -> list[GradePost]:
    """A player's run just ended: their new grade goes to their course's gradebook (nothing for bots or branches)."""
    if run.parent_run_id is not None:
        return []
    student = db.get(Student, run.student_pk)
    if student is None or student.is_bot:
        return []
    row = db.get(ClassSettings, class_id_of(student))
    if row is None:
        return []
    return plan_posts(db, student, row, RUN_ENDED)


def plan_for_rescaled_dataset(db: Session, dataset_id: int) -> list[GradePost]:
    """A dataset's reference players were just measured, so its scale's top may have moved: its players' grades go again.

    Without this, a grade posted while the references were still being computed would stay in the
    gradebook though the game now shows a different normalised score for the same run.
    """
    students = db.scalars(
        select(Student).join(Run, Run.student_pk == Student.id)
        .where(Run.dataset_id == dataset_id, Run.status == ENDED, Run.parent_run_id.is_(None),
               Student.role != BOT_ROLE).distinct()
    )
    posts = []
    for student in list(students):
        row = db.get(ClassSettings, class_id_of(student))
        if row is not None:
            posts.extend(plan_posts(db, student, row, RESCALED))
    return posts


def is_course(db: Session, row: ClassSettings) -> bool:
    """The class is an LMS course (it was made by a launch), so it has a gradebook to post to."""
    return db.scalar(select(LtiContext.id).where(LtiContext.class_id == row.id).limit(1)) is not None
