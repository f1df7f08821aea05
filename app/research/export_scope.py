"""Who and what an export may hold: consent decides, for every table at once."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import Student
from app.classroom.models import ClassSettings
from app.classroom.service import class_id_of
from app.runs.models import Run



def excluded_player(student: Student, research_enabled: bool) -> bool:
    """True when nothing of this human player may be exported: they declined consent, or the class
    runs a study (``research_enabled``) and they have not consented. Bots are never excluded."""
    if student.is_bot:
        return False
    return student.consented is False or (research_enabled and student.consented is not True)


@dataclasses.dataclass(frozen=True)
class ClassFlags:
    """The class settings an export obeys (one export holds every class: the default one and each LMS course)."""

    #: Classes that run a study, by ClassSettings.id: their players are exported only with consent.
    research_classes: frozenset[int] = frozenset()
    #: Exact times may be exported: only when every class allows it (one export mixes them).
    allow_exact_times: bool = False

    def research_enabled(self, student: Student) -> bool:
        """The player's class runs a study."""
        return class_id_of(student) in self.research_classes


def class_flags(db: Session) -> ClassFlags:
    """The classes' research flags; the defaults when no settings row was ever created."""
    # Read, not app.classroom.service.class_settings(): an export must not create the row.
    rows = list(db.scalars(select(ClassSettings)))
    if not rows:
        return ClassFlags()
    return ClassFlags(frozenset(r.id for r in rows if r.research_enabled), all(r.allow_exact_times for r in rows))


@dataclasses.dataclass(frozen=True)
class Scope:
    """What an export leaves out: players (Student.id) and runs (Run.id), with their epochs and actions."""

    students: frozenset[int]
    runs: frozenset[int]

    def has_run(self, run_id: int) -> bool:
        """The run (and so its epochs and actions) is exported."""
        return run_id not in self.runs


def export_scope(db: Session, flags: ClassFlags | None = None) -> Scope:
    """The excluded players, their runs, and every debrief branch grown from an excluded run."""
    flags = flags or class_flags(db)
    students = frozenset(s.id for s in db.scalars(select(Student)) if excluded_player(s, flags.research_enabled(s)))
    runs = db.execute(select(Run.id, Run.student_pk, Run.parent_run_id)).all()
    dropped = {run_id for run_id, owner, _ in runs if owner in students}
    # A branch may itself be branched: follow parents until nothing changes.
    children = [(run_id, parent) for run_id, _, parent in runs if parent is not None]
    grew = True
    while grew:
        before = len(dropped)
        dropped |= {run_id for run_id, parent in children if parent in dropped}
        grew = len(dropped) != before
    return Scope(students, frozenset(dropped))
