"""A study in a class: the consent a player gave, and the experimental condition they were assigned.

Assignment is balanced minimisation within strata (the survey's experience answer): a new player
goes to one of the arms with the fewest players of their stratum, and among those to the arm with
the smallest HMAC-SHA256(seed, pseudonym + newline + arm). The same seed, arms and players in the
same order give the same conditions on any database; another seed is another randomisation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import Student, SurveyResponse
from app.classroom.models import ClassSettings
from app.classroom.service import class_id_of, class_of, in_class
from app.research.models import Assignment
from app.settings import Settings

UNANSWERED = "unanswered"


def consent_due(student: Student, row: ClassSettings) -> bool:
    """True when the class runs a study and the player has not answered its current consent text."""
    if not row.research_enabled or student.is_bot:
        return False
    return student.consented is None or student.consent_version != row.consent_version


def has_survey(db: Session, student: Student) -> bool:
    """True once the player answered the survey."""
    return db.scalar(select(SurveyResponse.id).where(SurveyResponse.student_pk == student.id)) is not None


def next_step(db: Session, student: Student, settings: Settings) -> str | None:
    """The page a player must visit before playing ("/consent", "/survey"), or None when they may play."""
    if consent_due(student, class_of(db, student, settings)):
        return "/consent"
    if not has_survey(db, student):
        return "/survey"
    return None


def record_consent(db: Session, student: Student, settings: Settings, agreed: bool) -> None:
    """Store the player's answer to the current consent text.

    A decliner plays on with no hints and is never exported; an assignment drawn under an earlier
    consent is kept (fixed per player) but condition_of ignores it while consent is withdrawn.
    """
    row = class_of(db, student, settings)
    student.consented = agreed
    student.consent_version = row.consent_version
    student.consent_at = dt.datetime.now(dt.timezone.utc)
    db.flush()


def stratum_of(db: Session, student: Student) -> str:
    """The player's stratum: their survey experience answer, or "unanswered"."""
    answer = db.scalar(select(SurveyResponse.experience_years).where(SurveyResponse.student_pk == student.id))
    return answer or UNANSWERED


def arm_key(seed: str, pseudonym: str, arm: str) -> str:
    """The tie-break of an arm for a player: HMAC-SHA256(seed, pseudonym + newline + arm), hex."""
    return hmac.new(seed.encode("utf-8"), f"{pseudonym}\n{arm}".encode("utf-8"), hashlib.sha256).hexdigest()


def choose_arm(arms: list[str], counts: dict[str, int], seed: str, pseudonym: str) -> str:
    """Among the arms with the fewest players so far, the one with the smallest hash for this player."""
    fewest = min(counts.get(arm, 0) for arm in arms)
    return min((arm for arm in arms if counts.get(arm, 0) == fewest), key=lambda arm: arm_key(seed, pseudonym, arm))


def stratum_counts(db: Session, row: ClassSettings, stratum: str) -> dict[str, int]:
    """Players per arm in ``stratum``, under the class's current seed and arms."""
    rows = db.execute(
        select(Assignment.condition, func.count()).join(Student, Student.id == Assignment.student_pk).where(
            Assignment.stratum == stratum, Assignment.seed == row.assignment_seed, Assignment.arms == ",".join(row.arms or []),
            in_class(Student.class_id, row.id))
        .group_by(Assignment.condition)
    ).all()
    return {condition: n for condition, n in rows}


def balance_table(db: Session, row: ClassSettings) -> list[dict]:
    """Per stratum, players per arm under the current seed and arms: [{"stratum", "counts": {arm: n}, "total"}]."""
    rows = db.execute(
        select(Assignment.stratum, Assignment.condition, func.count()).join(Student, Student.id == Assignment.student_pk)
        .where(Assignment.seed == row.assignment_seed, Assignment.arms == ",".join(row.arms or []),
               in_class(Student.class_id, row.id))
        .group_by(Assignment.stratum, Assignment.condition)
    ).all()
    table: dict[str, dict[str, int]] = {}
    for stratum, condition, n in rows:
        table.setdefault(stratum, {})[condition] = n
    return [{"stratum": s, "counts": c, "total": sum(c.values())} for s, c in sorted(table.items())]


def ensure_assignment(db: Session, student: Student, settings: Settings) -> str | None:
    """Draw the player's condition if the class runs an experiment and they have none yet; returns it."""
    from app.research.export import pseudonym  # the exporter's pseudonym, so the draw is reproducible from an export

    row = class_of(db, student, settings)
    if not row.research_enabled or not row.arms or student.is_bot or consent_due(student, row) \
            or student.consented is not True:
        return None
    # Serialise draws (PostgreSQL): two players counted at once could both fill the same arm.
    db.execute(select(ClassSettings.id).where(ClassSettings.id == row.id).with_for_update())
    existing = db.scalar(select(Assignment.condition).where(Assignment.student_pk == student.id))
    if existing is not None:
        return existing
    stratum = stratum_of(db, student)[:64]
    arms = list(row.arms)
    condition = choose_arm(arms, stratum_counts(db, row, stratum), row.assignment_seed,
                           pseudonym(student.student_id, student.name_key, settings.pseudonym_key))
    try:
        with db.begin_nested():
            db.add(Assignment(student_pk=student.id, condition=condition, stratum=stratum,
                              seed=row.assignment_seed, arms=",".join(arms)))
    except IntegrityError:  # the same player's other request drew first: theirs stands
        return db.scalar(select(Assignment.condition).where(Assignment.student_pk == student.id))
    return condition


def condition_of(db: Session, student: Student) -> str | None:
    """The player's experimental condition (None: no experiment, no consent, or a bot)."""
    if student.is_bot or student.consented is not True:
        return None
    row = db.get(ClassSettings, class_id_of(student))  # a read: no settings row means no study
    if row is None or not row.research_enabled:
        return None
    return db.scalar(select(Assignment.condition).where(Assignment.student_pk == student.id))


def assignment_of(db: Session, student: Student) -> Assignment | None:
    """The player's stored assignment, whatever the class runs now (for staff pages)."""
    return db.scalar(select(Assignment).where(Assignment.student_pk == student.id))
